"""SleepFixture: looping calls' waits return at once on native threads."""

import threading
import time
import unittest
from unittest import mock

import fixtures
import pytest

from oslo_threading_backend import fixture
from oslo_threading_backend import loopingcall

TIMEOUT = 10


def count_to(n):
    runs = []

    def func():
        runs.append(1)
        if len(runs) == n:
            raise loopingcall.LoopingCallDone(len(runs))

    return func


def test_long_intervals_take_no_wall_clock_time():
    with fixture.SleepFixture() as fx:
        started = time.monotonic()
        call = loopingcall.FixedIntervalLoopingCall(count_to(5))
        assert call.start(interval=3600, initial_delay=600).wait(TIMEOUT) == 5
        assert time.monotonic() - started < 2
    assert fx.mock_wait.call_args_list == [mock.call(600)] + [mock.call(3600)] * 4


@pytest.mark.parametrize("interval", [0.005, 0.5, 30])
def test_fixed_interval_asks_for_the_interval_every_time(interval):
    """Time does not pass under the fixture: the schedule re-anchors on each run."""
    with fixture.SleepFixture() as fx:
        call = loopingcall.FixedIntervalLoopingCall(count_to(8))
        call.start(interval=interval).wait(TIMEOUT)
    timeouts = [c.args[0] for c in fx.mock_wait.call_args_list]
    # Each wait is the interval less that run's own time (real time passes running it):
    # a loaded 2-core machine has taken over 2 ms for one run. A schedule that did not
    # re-anchor would shrink the waits run after run.
    assert timeouts == pytest.approx([interval] * 7, abs=max(0.002, interval * 0.05))


def test_records_retry_decorator_waits_as_oslo_service():
    with fixture.SleepFixture() as fx:

        @loopingcall.RetryDecorator(max_retry_count=3, inc_sleep_time=2, exceptions=(ValueError,))
        def retried_method():
            raise ValueError("!")

        with pytest.raises(ValueError):
            retried_method()
    assert fx.mock_wait.call_count == 3
    fx.mock_wait.assert_has_calls([mock.call(x) for x in (2, 4, 6)])


def test_waits_are_real_again_after_cleanup():
    with fixture.SleepFixture():
        pass
    ran = threading.Event()
    call = loopingcall.FixedIntervalLoopingCall(ran.set)
    result = call.start(interval=3600)
    assert ran.wait(TIMEOUT)
    with pytest.raises(loopingcall.WaitTimeout):
        result.wait(0.05)  # now waiting out the real interval
    call.stop()
    assert result.wait(TIMEOUT) is True


def test_stop_still_ends_a_loop_under_the_fixture():
    with fixture.SleepFixture() as fx:
        call = loopingcall.FixedIntervalLoopingCall(lambda: None)
        result = call.start(interval=3600)
        assert_eventually(lambda: fx.mock_wait.call_count >= 3)
        call.stop()
        assert result.wait(TIMEOUT) is True


def test_side_effect_acts_on_each_wait():
    with fixture.SleepFixture() as fx:
        fx.mock_wait.side_effect = [None, RuntimeError("wait failed")]
        call = loopingcall.FixedIntervalLoopingCall(lambda: None)
        with pytest.raises(RuntimeError, match="wait failed"):
            call.start(interval=1).wait(TIMEOUT)
    assert fx.mock_wait.call_count == 2


def test_is_a_fixtures_fixture_for_testtools_style_tests():
    assert issubclass(fixture.SleepFixture, fixtures.Fixture)

    class Case(unittest.TestCase):
        def runTest(self):
            fx = fixtures.Fixture()
            fx.setUp()
            self.addCleanup(fx.cleanUp)
            sleepfx = fx.useFixture(fixture.SleepFixture())
            call = loopingcall.DynamicLoopingCall(
                mock.Mock(side_effect=[30, 40, loopingcall.LoopingCallDone("x")])
            )
            self.assertEqual("x", call.start().wait(TIMEOUT))
            self.assertEqual([mock.call(30), mock.call(40)], sleepfx.mock_wait.call_args_list)

    result = unittest.TestResult()
    Case().run(result)
    assert result.wasSuccessful(), result.failures + result.errors


def assert_eventually(predicate):
    deadline = time.monotonic() + TIMEOUT
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        threading.Event().wait(0.005)
