"""A condition variable that wakes the thread that went idle last.

``threading.Condition.notify()`` wakes its waiters in the order they began to
wait (first in, first out). A pool whose idle threads wait on one condition
then hands each new task to the thread idle the longest: under a steady load
every thread of the pool's peak takes a task now and then, none stays idle
long enough to exit, and each keeps its stack, its glibc arena and its caches
warm for nothing. Waking the most recently idle thread instead keeps the work
on as few threads as the load needs and lets the others reach their idle
timeout (Go's runtime keeps its idle OS threads the same way, last in, first
out).

A waiter is ranked by the *rank* its thread set (:func:`set_rank`: the time
it went idle; 0 if it set none), not by when it called ``wait()``: a pool
thread that wakes every second to check for shutdown and waits again keeps its
place.
"""

from __future__ import annotations

import bisect
import itertools
import threading
from typing import Any

_RANK = "_oslo_threading_backend_idle_rank"
_order = itertools.count()  # breaks ties between equal ranks: later first


def set_rank(thread: threading.Thread, rank: float) -> None:
    """Rank ``thread``'s next waits (a pool: when it went idle): the higher, the sooner woken."""
    thread.__dict__[_RANK] = rank


class LifoCondition(threading.Condition):
    """``threading.Condition`` whose ``notify()`` wakes the highest ranked waiter."""

    def __init__(self, lock: Any = None) -> None:
        super().__init__(lock)
        # [rank, tie, waiter] sorted by (rank, tie); the last is woken first. The
        # base class's FIFO ``_waiters`` stays empty.
        self._ranked: list[list[Any]] = []

    def wait(self, timeout: float | None = None) -> bool:
        if not self._is_owned():  # type: ignore[attr-defined]
            raise RuntimeError("cannot wait on un-acquired lock")
        waiter = threading.Lock()
        waiter.acquire()
        rank = threading.current_thread().__dict__.get(_RANK, 0.0)
        entry = [rank, next(_order), waiter]
        bisect.insort(self._ranked, entry)
        saved_state = self._release_save()  # type: ignore[attr-defined]
        gotit = False
        try:
            if timeout is None:
                gotit = waiter.acquire()
            elif timeout > 0:
                gotit = waiter.acquire(True, timeout)
            else:
                gotit = waiter.acquire(False)
            return gotit
        finally:
            self._acquire_restore(saved_state)  # type: ignore[attr-defined]
            if not gotit:
                self._forget(entry)

    def _forget(self, entry: list[Any]) -> None:
        for i, other in enumerate(self._ranked):
            if other is entry:
                del self._ranked[i]
                return

    def notify(self, n: int = 1) -> None:
        if not self._is_owned():  # type: ignore[attr-defined]
            raise RuntimeError("cannot notify on un-acquired lock")
        ranked = self._ranked
        while ranked and n > 0:
            entry = ranked.pop()
            waiter = entry[2]
            try:
                waiter.release()
            except RuntimeError:
                pass  # released by a notify() interrupted before it forgot it
            else:
                n -= 1

    def notify_all(self) -> None:
        self.notify(len(self._ranked))

    def forget_waiters(self) -> None:
        """In a forked child: the waiters were the parent's threads."""
        self._ranked = []
