"""No worker is forked once the master's shutdown has begun.

cotyledon 2.2.0 forks from its supervisor thread and decides to stop forking
only by ``_dead``, an event its SIGTERM handling sets after it logged and
armed its alarm, and its SIGINT handling never sets. The supervisor thread
therefore forked during a shutdown: a worker dying of a terminal's SIGINT, or
start-up still forking the first workers, while the master signalled the
workers it knew of and exited. The new worker, missed by that signal, started
its service, took work, then found its parent gone ("Parent process has died
unexpectedly").

The gate: the forking thread checks it and forks under its lock; a shutdown
closes it first thing (from the signal handler already), then waits for a fork
in flight to end before it lists the workers to signal, so that worker is on
the list. Workers also see the gate closed (a flag in shared memory) and do
not start their service.
"""

from __future__ import annotations

import threading
from typing import Any


class ShuttingDown(Exception):
    """Raised in the forking thread: the shutdown began, this worker is not forked."""


class ShutdownGate:
    def __init__(self, on_close: Any = None) -> None:
        self._lock = threading.Lock()
        self._closed = False
        self._holder: int | None = None
        self._on_close = on_close

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Safe in a signal handler: takes no lock."""
        self._closed = True
        if self._on_close is not None:
            self._on_close()

    def close_and_wait_for_forks(self, timeout: float = 10.0) -> None:
        """Close, then wait for a fork in flight: the worker it makes is then known."""
        self.close()
        if self._lock.acquire(timeout=timeout):
            self._lock.release()

    def enter(self) -> None:
        """Before a fork, in the forking thread; ShuttingDown once closed."""
        self._lock.acquire()
        if self._closed:
            self._lock.release()
            raise ShuttingDown
        self._holder = threading.get_ident()

    def leave(self) -> None:
        """After the fork (or its failure); a no-op if this thread did not enter."""
        if self._holder == threading.get_ident():
            self._holder = None
            self._lock.release()
