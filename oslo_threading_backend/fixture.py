"""Test fixtures for code built on oslo_threading_backend."""

from __future__ import annotations

from unittest import mock

import fixtures

from oslo_threading_backend import loopingcall

__all__ = ["SleepFixture"]


class SleepFixture(fixtures.Fixture):
    """Make looping calls' waits return at once, recording what they asked for.

    Replaces ``LoopingCallBase._sleep``, the one method every wait of a looping
    call goes through (initial delay, intervals, RetryDecorator's back-off), so
    code that loops does not spend wall-clock time in tests. oslo.service's
    fixture patches an eventlet event and has no effect on native threads.

    ``mock_wait`` is a ``unittest.mock.Mock`` called with each wait's timeout in
    seconds, e.g. ``mock_wait.assert_has_calls([mock.call(2), mock.call(4)])``.
    Give it a ``side_effect`` to act on each wait. ``stop()`` still ends a
    loop: the loop checks its stop flag after every wait.

    Example::

        def setUp(self):
            super().setUp()
            self.sleepfx = self.useFixture(fixture.SleepFixture())

        def test_this(self):
            thing_that_hits_a_loopingcall()
            self.assertEqual(5, self.sleepfx.mock_wait.call_count)
    """

    def _setUp(self) -> None:
        # A Mock is not a descriptor: instance._sleep(t) calls it with (t) only.
        self.mock_wait = mock.Mock(name="wait", return_value=None)
        self.useFixture(
            fixtures.MockPatchObject(loopingcall.LoopingCallBase, "_sleep", self.mock_wait)
        )
