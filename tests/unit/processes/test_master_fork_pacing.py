"""The master's pacing of forks: the first forks go at once, respawns are paced."""

import time
import types

from oslo_threading_backend._processes import master as _master


class _RecordingEvent:
    def __init__(self):
        self.waits = []

    def wait(self, timeout=None):
        self.waits.append(timeout)
        return False

    def is_set(self):
        return False


def _master_state(workers, wait_interval):
    # The state _slowdown_respawn_if_needed() reads; a real Master acts on the
    # process (setsid, signal handlers), which the functional tests cover.
    return types.SimpleNamespace(
        _services={"svc": types.SimpleNamespace(workers=workers)},
        _forktimes=[],
        _dead=_RecordingEvent(),
        _wait_interval=wait_interval,
        # The shutdown gate (taken before each fork) is covered by test_shutdown_gate.
        _gate=types.SimpleNamespace(enter=lambda: None),
    )


def test_first_forks_do_not_wait_the_interval():
    state = _master_state(workers=4, wait_interval=30.0)
    for _ in range(4):
        _master.Master._slowdown_respawn_if_needed(state)
    # cotyledon 2.2.0 slept wait_interval before each of them.
    assert state._dead.waits == []
    assert len(state._forktimes) == 4


def test_a_respawn_after_the_first_forks_still_waits_the_interval():
    state = _master_state(workers=2, wait_interval=30.0)
    for _ in range(3):
        _master.Master._slowdown_respawn_if_needed(state)
    assert state._dead.waits == [30.0]


def test_a_sighup_while_forking_too_fast_does_not_kill_the_supervisor():
    # A SIGHUP (main thread) replaces _forktimes during the 5 s "Forking too fast"
    # wait (supervisor thread); the pop() that follows raised IndexError and the
    # supervisor thread died: no worker was respawned again.
    state = _master_state(workers=1, wait_interval=0.0)
    state._forktimes = [time.time(), time.time()]

    class _ReloadDuringWait(_RecordingEvent):
        def wait(self, timeout=None):
            state._forktimes = []  # what Master._reload() does
            return super().wait(timeout)

    state._dead = _ReloadDuringWait()
    _master.Master._slowdown_respawn_if_needed(state)
    assert state._dead.waits == [5]
    assert len(state._forktimes) == 1  # the fork about to happen, on the fresh list
