"""An idle master sleeps: no thread of it wakes on a timer (oslo.service's master uses none).

The master's ``workers-started`` thread used to poll its pipe every 50 ms for
the whole life of the master (40 ms of CPU per 20 s idle). Every thread of the
master is read from /proc: their context switches over an idle second count
their wakeups.
"""

from __future__ import annotations

import os
import signal
import threading

IDLE_SECONDS = 1.0
#: A 50 ms timer alone wakes 20 times a second; a master that blocks wakes ~never.
MAX_WAKEUPS = 5


def _switches(pid: int) -> dict[int, int]:
    """{thread id: voluntary + involuntary context switches} of every thread of ``pid``."""
    found = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/status") as status:
                lines = status.read().splitlines()
        except FileNotFoundError:
            continue  # the thread ended meanwhile
        # "voluntary_ctxt_switches:\t12" and "nonvoluntary_ctxt_switches:\t3"
        found[int(tid)] = sum(
            int(line.split()[1]) for line in lines if line.split(":")[0].endswith("ctxt_switches")
        )
    return found


def test_an_idle_master_does_not_wake_on_a_timer(service_process):
    run = service_process().start("--workers", "2", wait_ready=True)
    run.wait_for_workers(2)
    before = _switches(run.pid)
    threading.Event().wait(IDLE_SECONDS)  # the period measured, not a synchronization
    after = _switches(run.pid)
    woke = {tid: after[tid] - before.get(tid, 0) for tid in after}
    assert sum(woke.values()) <= MAX_WAKEUPS, (
        f"the idle master's threads woke {woke} times in {IDLE_SECONDS} s"
    )
    assert len(after) >= 2  # the supervisor and workers-started threads are there
    run.send(signal.SIGTERM)
    assert run.wait_exit() == 0
