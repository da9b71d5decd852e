"""futurist pools start threads on demand and let idle ones go: a fix of futurist 3.5.0.

``futurist.ThreadPoolExecutor._maybe_spin_up`` starts a new thread on every
``submit()`` until ``max_workers``, whether threads are idle or not, and its
threads never exit. So a process's pools hold their peak: oslo.messaging's RPC
executor reached 64 threads and nova's cell pool 40 in a nova-scheduler worker
where about 5 tasks ever ran at once, each thread keeping its stack and glibc's
per-thread cache (~23 MB of worker USS against eventlet, issue 18).

The fix, for ``futurist.ThreadPoolExecutor`` and subclasses that keep its
``_maybe_spin_up`` (``DynamicThreadPoolExecutor`` has its own policy and is
left alone):

- ``submit()`` starts a thread only when no idle thread is free for the task,
  as the standard library's executor does. The count is exact (as in
  ``_threads/pool.py``), so N tasks that block together still get N threads.
- a thread idle for ``[DEFAULT] thread_pool_idle_timeout`` seconds exits (as
  our own pools' threads), and asks for a ``malloc_trim(0)`` a moment later, once
  its cache went back to its arena (``[DEFAULT] malloc_trim_after_idle_exit``).
- a new task wakes the thread that went idle last (the pool's ``queue.Queue``
  gets a :class:`~.lifo_condition.LifoCondition`): woken first in, first out,
  and waiting again every second, the threads of a burst took turns under the
  steady load that followed and none reached the idle timeout.
- a forked child forgets its parent's threads (they do not exist there), so its
  pools start new ones instead of waiting for them.
- a thread going back to wait drops the oslo.context request context its task
  left (``_openstack.request_context``), as a greenthread's ended with it.

Results, exceptions, ``check_and_reject``, statistics and ``shutdown()`` are
futurist's own: only ``_maybe_spin_up``, ``ThreadWorker._wait_for_work`` and the
queue's ``not_empty`` condition are replaced. A pool that already had threads
when the fix went in keeps futurist's behaviour. The launchers apply it
(``[DEFAULT] futurist_threads_on_demand``, on by default) with the fast-shutdown
fix (:mod:`.futurist_fixes`).
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from typing import Any
import weakref

from oslo_threading_backend._openstack import request_context as _request_context
from oslo_threading_backend._processes import glibc_malloc as _glibc_malloc
from oslo_threading_backend._threads import lifo_condition as _lifo_condition

LOG = logging.getLogger(__name__)

#: Where a pool's counts live (an attribute of the futurist executor).
_COUNTS = "_oslo_threading_backend_counts"
#: Set on a thread once it ran a task: its next wait makes it free again.
_RAN = "_oslo_threading_backend_ran"


class _Counts:
    """A pool's thread accounting, guarded by its own ``lock``.

    ``idle``: waiting threads that no queued task is meant for; ``backlog``:
    queued tasks that no thread is free for. At most one is non-zero, and
    ``idle - backlog`` is the number of waiting threads minus the queued tasks.

    Not the pool's ``_shutdown_lock``: ``shutdown(wait=True)`` holds that one
    while it waits for the queued tasks, which the threads must be free to take.
    Order: ``_shutdown_lock`` (submit) before ``lock``.
    """

    __slots__ = ("idle", "backlog", "lock")

    def __init__(self) -> None:
        self.idle = 0
        self.backlog = 0
        self.lock = threading.Lock()


class _Settings:
    idle_timeout: float | None = None


settings = _Settings()
_originals: dict[str, Any] = {}
_pools: weakref.WeakSet[Any] = weakref.WeakSet()  # the executors counted here


def _counts(executor: Any) -> _Counts | None:
    counts = executor.__dict__.get(_COUNTS)
    return counts if isinstance(counts, _Counts) else None


def maybe_spin_up(self: Any) -> bool:
    """``submit()`` (with the pool's lock held): a new thread only if none is free."""
    counts = self.__dict__.get(_COUNTS)
    if counts is None:
        # Counted from the first submit; a pool with threads from before the fix
        # went in keeps futurist's way (its threads were never counted).
        counts = _Counts() if not self._workers else False
        self.__dict__[_COUNTS] = counts
        if counts:
            _pools.add(self)
            _wake_latest_first(self._work_queue)
    if not counts:
        return _originals["_maybe_spin_up"](self)
    with counts.lock:
        if counts.idle:
            counts.idle -= 1
            return False
        if len(self._workers) >= self._max_workers:
            counts.backlog += 1
            return False
    self._add_thread()  # under _shutdown_lock: no thread retires meanwhile
    return True


def wait_for_work(self: Any) -> Any:
    """A pool thread's wait for its next task; exits when idle too long."""
    _request_context.forget()  # the next task starts without the last one's
    executor = self.executor_ref()
    counts = None if executor is None else _counts(executor)
    if counts is None:
        del executor
        return _originals["_wait_for_work"](self)
    del executor  # futurist holds no strong reference from its threads
    if self.__dict__.get(_RAN):
        with counts.lock:  # done with a task: free for a queued one, or idle
            if counts.backlog:
                counts.backlog -= 1
            else:
                counts.idle += 1
    else:
        self.__dict__[_RAN] = True  # the task this thread was started for is queued
    self.idle = True
    idle_timeout = settings.idle_timeout
    idle_since = time.monotonic()
    _lifo_condition.set_rank(self, idle_since)
    while True:
        wait = self.MAX_IDLE_FOR
        if idle_timeout is not None:
            wait = min(wait, max(0.0, idle_since + idle_timeout - time.monotonic()))
        try:
            work = self.work_queue.get(True, wait)
        except queue.Empty:
            if self._is_dying():
                raise _stopping() from None
            if idle_timeout is not None and time.monotonic() - idle_since >= idle_timeout:
                if _retire(self, counts):
                    raise _stopping() from None
                idle_since = time.monotonic()  # a task is on its way to this thread
            continue
        self.idle = False
        return work


def _wake_latest_first(work_queue: Any) -> None:
    """A new task goes to the thread idle the shortest time (no thread waits yet)."""
    not_empty = getattr(work_queue, "not_empty", None)
    if type(not_empty) is threading.Condition:
        work_queue.not_empty = _lifo_condition.LifoCondition(work_queue.mutex)


def _stopping() -> BaseException:
    from futurist import _thread

    return _thread._Stopping()


def _retire(worker: Any, counts: _Counts) -> bool:
    """Leave the pool if no queued task counts on this thread; True if it left."""
    executor = worker.executor_ref()
    if executor is None:
        return True
    # Never waits for the pool's lock: a submit or a shutdown() holds it, and then
    # this thread may be needed; it tries again after another idle_timeout.
    if not executor._shutdown_lock.acquire(blocking=False):
        return False
    try:
        with counts.lock:
            if not counts.idle or executor._shutdown:
                return False  # a submit claimed it, or shutdown() stops it
            counts.idle -= 1
        executor._workers.remove(worker)
    finally:
        executor._shutdown_lock.release()
    worker.idle = False
    LOG.debug(
        "futurist pool thread %s exits after %g s idle (%d threads left)",
        worker.name,
        settings.idle_timeout,
        len(executor._workers),
    )
    del executor
    _glibc_malloc.trimmer.request()  # unless [DEFAULT] malloc_trim_after_idle_exit is off
    return True


def _after_fork_in_child() -> None:
    # The parent's pool threads do not exist here (threading marked them stopped):
    # left counted, they would take the tasks no thread is there to run.
    for executor in list(_pools):
        counts = _counts(executor)
        if counts is None:
            continue
        executor._workers[:] = [w for w in executor._workers if w.is_alive()]
        counts.lock = threading.Lock()
        counts.idle = 0
        not_empty = getattr(executor._work_queue, "not_empty", None)
        if isinstance(not_empty, _lifo_condition.LifoCondition):
            not_empty.forget_waiters()  # the parent's threads', gone here
        # Tasks queued in the parent wait for the threads this child starts. The
        # queue's own lock may be held by a parent thread: read the deque directly.
        counts.backlog = len(getattr(executor._work_queue, "queue", ()))


os.register_at_fork(after_in_child=_after_fork_in_child)


def missing(futures_mod: Any, thread_mod: Any) -> str | None:
    """What of futurist 3.5.0 the fix relies on is not there; None if all is."""
    pool_cls = getattr(futures_mod, "ThreadPoolExecutor", None)
    worker_cls = getattr(thread_mod, "ThreadWorker", None)
    if pool_cls is None or worker_cls is None:
        return "futurist.ThreadPoolExecutor or futurist._thread.ThreadWorker"
    for owner, names in (
        (pool_cls, ("_maybe_spin_up", "_add_thread", "_submit")),
        (worker_cls, ("_wait_for_work", "_is_dying", "MAX_IDLE_FOR")),
        (thread_mod, ("_Stopping",)),
    ):
        for name in names:
            if not hasattr(owner, name):
                return f"{owner.__name__}.{name}"
    return None


def is_applied(futures_mod: Any, thread_mod: Any) -> bool:
    return (
        bool(_originals)
        and futures_mod.ThreadPoolExecutor.__dict__.get("_maybe_spin_up") is maybe_spin_up
        and thread_mod.ThreadWorker.__dict__.get("_wait_for_work") is wait_for_work
    )


def install(futures_mod: Any, thread_mod: Any, idle_timeout: float | None) -> None:
    """Put the fix in (or update its settings); the caller checked :func:`missing`."""
    settings.idle_timeout = idle_timeout
    if is_applied(futures_mod, thread_mod):
        return
    _originals["_maybe_spin_up"] = futures_mod.ThreadPoolExecutor.__dict__["_maybe_spin_up"]
    _originals["_wait_for_work"] = thread_mod.ThreadWorker.__dict__["_wait_for_work"]
    futures_mod.ThreadPoolExecutor._maybe_spin_up = maybe_spin_up
    thread_mod.ThreadWorker._wait_for_work = wait_for_work


def uninstall(futures_mod: Any, thread_mod: Any) -> None:
    """futurist's own methods back (for tests)."""
    if not is_applied(futures_mod, thread_mod):
        return
    futures_mod.ThreadPoolExecutor._maybe_spin_up = _originals["_maybe_spin_up"]
    thread_mod.ThreadWorker._wait_for_work = _originals["_wait_for_work"]
    _originals.clear()
    for executor in list(_pools):  # back to futurist's way, were the fix put in again
        executor.__dict__[_COUNTS] = False
    _pools.clear()
