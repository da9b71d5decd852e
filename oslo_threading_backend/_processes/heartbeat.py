"""The worker side of hung worker detection: a heartbeat, and a dump that needs no Python.

A daemon thread in each worker sends a heartbeat to the master a few times per
``worker_hang_timeout``. The thread runs Python code, so it stops when the
interpreter stops running Python: a C call holding the GIL, a deadlock on a
lock taken in C, a process stopped by SIGSTOP. The master then kills the
worker and forks another (``hang_watch``).

Before it kills, the master sends ``DUMP_SIGNAL``: ``faulthandler`` writes
every thread's stack from its C signal handler, which runs even when no Python
code can (the thread dump of ``thread_dump`` needs the main thread to run
Python, and cannot). It writes to the file of the worker's log handler when
there is one, else to stderr.
"""

from __future__ import annotations

import contextlib
import faulthandler
import logging
import os
import signal
import sys
import threading

from oslo_threading_backend._processes import health_channel as _health_channel

LOG = logging.getLogger(__name__)

#: Real-time signals are the application's to use and no launcher uses this one.
DUMP_SIGNAL = signal.SIGRTMIN + 3

_BEATS_PER_TIMEOUT = 6
_MAX_INTERVAL = 10.0
_MIN_INTERVAL = 0.05


def interval_for(timeout: float) -> float:
    """Seconds between heartbeats: six per timeout, never rarer than every 10 s."""
    return min(_MAX_INTERVAL, max(_MIN_INTERVAL, timeout / _BEATS_PER_TIMEOUT))


# The descriptor faulthandler writes to, duplicated: see dump_fd().
_dump_fd: int | None = None


def dump_fd() -> int:
    """A duplicate of the first log handler's file descriptor, else of stderr's.

    A duplicate, because faulthandler keeps a number: a log handler that
    reopens its file (rotation) frees its descriptor, and the number may then
    name a socket. The duplicate stays on the file it was opened on.
    """
    for handler in logging.getLogger().handlers:
        stream = getattr(handler, "stream", None)
        try:
            if stream is not None and stream.fileno() >= 0:
                return os.dup(stream.fileno())
        except (AttributeError, OSError, ValueError):
            continue
    return os.dup(sys.stderr.fileno())


def register_dump_signal() -> bool:
    """Make DUMP_SIGNAL write every thread's stack (faulthandler); False if it cannot."""
    global _dump_fd
    try:
        fd = dump_fd()
    except (AttributeError, OSError, ValueError) as exc:
        LOG.debug("No faulthandler thread dump: no file to write it to (%s)", exc)
        return False
    try:
        faulthandler.register(DUMP_SIGNAL, file=fd, all_threads=True, chain=False)
    except (AttributeError, OSError, RuntimeError, ValueError) as exc:
        os.close(fd)
        LOG.debug("No faulthandler thread dump on signal %d: %s", DUMP_SIGNAL, exc)
        return False
    if _dump_fd is not None:
        with contextlib.suppress(OSError):
            os.close(_dump_fd)
    _dump_fd = fd
    return True


class Heartbeat:
    def __init__(self, channel: _health_channel.HealthChannel, worker_id: int, timeout: float):
        self._channel = channel
        self._worker_id = worker_id
        self._interval = interval_for(timeout)
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="worker-heartbeat", daemon=True)

    def start(self) -> Heartbeat:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped.set()

    def _run(self) -> None:
        pid = os.getpid()
        while not self._stopped.is_set() and os.getpid() == pid:
            self._channel.beat(self._worker_id)
            self._stopped.wait(self._interval)


def start_in_worker(
    channel: _health_channel.HealthChannel | None, worker_id: int, timeout: int
) -> Heartbeat | None:
    """In a new worker: register the dump signal and start beating (timeout 0: off)."""
    if channel is None or timeout <= 0:
        return None
    register_dump_signal()
    return Heartbeat(channel, worker_id, timeout).start()
