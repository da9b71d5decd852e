"""A stop that runs out ``graceful_shutdown_timeout`` logs the stacks of what still runs.

cotyledon 2.2.0 ends a worker whose stop outlasts the timeout with one INFO
line, and the master kills what is left with none: nothing said which thread
held the stop up, doing what. Here the worker (and a ``no_fork`` process)
logs every thread's stack first, as one ERROR record.

A worker's timeout is cotyledon's SIGALRM: a Python handler, which runs in
the main thread before cotyledon's own reading of the signal, logs the dump.
The master's own deadline comes first (it starts before it signals the
workers), so it sends SIGALRM to the workers still running and gives them a
moment to write their dump before it kills them.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterable
import contextlib
import logging
import os
import signal
import time
from typing import Any

from oslo_threading_backend import thread_dump
from oslo_threading_backend._processes import logflush as _logflush
from oslo_threading_backend._processes import procfs as _procfs

LOG = logging.getLogger(__name__)

#: Seconds the master waits for the workers' dumps before SIGKILL.
DUMP_GRACE = 2.0


def log_running_threads(who: str, timeout: int | None) -> None:
    """One ERROR record: the timeout ran out, and every thread's stack."""
    try:
        LOG.error(
            "%s: graceful_shutdown_timeout (%s s) exceeded; the threads still running:\n%s",
            who,
            "?" if timeout is None else timeout,
            thread_dump.format_dump(),
        )
    except Exception:
        LOG.exception("%s: graceful_shutdown_timeout exceeded; thread dump failed", who)
    _logflush.flush_all()


def install_in_worker(who: Callable[[], str], timeout: Callable[[], int | None]) -> None:
    """In a worker's main thread: log the stacks on SIGALRM, then let cotyledon exit."""
    previous = signal.getsignal(signal.SIGALRM)
    dumped = []

    def on_alarm(signo: int, frame: Any) -> None:
        # Once: the master's SIGALRM and the worker's own alarm may both come.
        try:
            if not dumped:
                dumped.append(True)
                log_running_threads(who(), timeout())
        finally:
            if callable(previous):
                previous(signo, frame)

    signal.signal(signal.SIGALRM, on_alarm)


def ask_workers_to_dump(pids: Iterable[int], grace: float = DUMP_GRACE) -> None:
    """Master: SIGALRM to the workers (they log their stacks and exit); wait ``grace`` s."""
    pids = list(pids)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGALRM)
    deadline = time.monotonic() + grace
    while any(_procfs.is_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
