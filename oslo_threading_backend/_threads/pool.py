"""A futurist thread pool that names its threads, shrinks when idle and stops fast.

Each workaround below names the futurist 3.5.0 behaviour it replaces; the tests in
tests/unit/test_thread_pool.py reproduce each one.
"""

from __future__ import annotations

from collections.abc import Callable
import itertools
import logging
import queue
import threading
import time
from typing import Any

# First: settles the backend, so that futurist (which imports eventlet whenever
# it is installed) finds eventlet blocked in a threading process.
from oslo_threading_backend._openstack import settle as _settle  # noqa: F401

# isort: split

import futurist
from futurist import _utils as futurist_utils

from oslo_threading_backend._openstack import request_context as _request_context
from oslo_threading_backend._processes import glibc_malloc as _glibc_malloc
from oslo_threading_backend._threads import hung_tasks as _hung_tasks

LOG = logging.getLogger(__name__)

# Short enough that a burst (a backlog of RPC messages at start, a fan-out) does not
# keep its threads, and their malloc caches, for minutes; starting a thread again
# costs about 0.1 ms.
DEFAULT_IDLE_TIMEOUT = 10.0

# Put on the work queue once per live thread at shutdown: wakes a waiting thread at
# once and, being queued after the remaining work, lets that work run first.
_STOP = object()


_EXECUTED, _FAILED, _CANCELLED = "executed", "failed", "cancelled"


def _run(
    item: futurist_utils.WorkItem, pool: Any, watch: _hung_tasks.Task | None
) -> tuple[str, float, float, Any, _hung_tasks.Task | None]:
    """Run one queued call: what happened, when it started and ended, its result or exception.

    futurist's WorkItem.run() does the same but does not say how it went (we
    would ask the future, taking its lock twice more per task), and re-raises
    SystemExit, which would end the pool thread. A task that runs too long is
    reported (``_hung_tasks``) before its caller sees it end; ``watch`` is the
    thread's Task from its last run, reused, and the one to reuse next is
    returned. The future is left to the caller, which counts the task first
    (see ThreadPoolExecutor._work).
    """
    if not item.future.set_running_or_notify_cancel():
        now = time.monotonic()
        return _CANCELLED, now, now, None, watch
    started = time.monotonic()
    watch = _hung_tasks.begin(pool, item.fn, started, watch)
    try:
        result = item.fn(*item.args, **item.kwargs)
    except BaseException as exc:  # noqa: B036 - the caller gets it through the future
        _hung_tasks.end(watch)
        return _FAILED, started, time.monotonic(), exc, watch
    _hung_tasks.end(watch)
    return _EXECUTED, started, time.monotonic(), result, watch


def _check_positive_number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number of seconds, got {value!r}")
    if not value > 0:
        raise ValueError(f"{name} must be greater than zero, got {value!r}")
    return float(value)


class ThreadPoolExecutor(futurist.ThreadPoolExecutor):
    """A bounded pool whose memory follows the load rather than the peak.

    Differences from futurist.ThreadPoolExecutor (each fixes an upstream behaviour):

    - futurist starts a new thread on every submit until max_workers even when threads
      are idle; here a thread is started only when no idle thread is free.
    - futurist never shrinks; here a thread that waited ``idle_timeout`` seconds for
      work exits.
    - futurist threads are unnamed; here they are "<name>-N".
    - futurist idle threads poll every ThreadWorker.MAX_IDLE_FOR (1 s), so
      ``shutdown(wait=True)`` of an idle pool takes about a second; here shutdown
      wakes them through the queue and returns as soon as they exit.
    - futurist ignores ``cancel_futures``; here it cancels the queued work.
    - futurist's ``shutdown(wait=False)`` leaves queued futures pending forever; here
      the threads finish the queued work before they exit.

    Statistics, ``check_and_reject``, ``alive``, ``num_workers``, ``queue_size`` and
    ``get_num_idle_workers()`` keep futurist's meaning.
    """

    def __init__(
        self,
        max_workers: int,
        name: str = "pool",
        idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
        check_and_reject: Callable[[Any, int], None] | None = None,
    ) -> None:
        if isinstance(max_workers, bool) or not isinstance(max_workers, int):
            raise TypeError(f"max_workers must be an integer, got {max_workers!r}")
        if max_workers < 1:
            raise ValueError(f"max_workers must be at least 1, got {max_workers!r}")
        if not isinstance(name, str) or not name:
            raise TypeError(f"name must be a non-empty string, got {name!r}")
        self._idle_timeout = _check_positive_number("idle_timeout", idle_timeout)
        super().__init__(max_workers=max_workers, check_and_reject=check_and_reject)
        # futurist calls a do-nothing check on every submit when none is given.
        self._rejects = check_and_reject is not None
        self.name = name
        # futurist's queue.Queue is only needed for its join(); SimpleQueue is cheaper.
        self._work_queue = queue.SimpleQueue()  # type: ignore[assignment]
        self._thread_ids = itertools.count(1)
        # Guarded by self._shutdown_lock (futurist's submit() already holds it).
        # _idle: waiting threads with no queued item meant for them.
        # _backlog: queued items that no thread is free for.
        # Invariant: _idle - _backlog == waiting threads - queued items, and at most
        # one of the two is non-zero.
        self._idle = 0
        self._backlog = 0
        # The fewest idle threads since the window that ends at _window_end began:
        # that many were not needed in it (see _leaves_the_pool()).
        self._fewest_idle = 0
        self._window_end = 0.0
        self._surplus = 0
        # Statistics, also guarded by self._shutdown_lock (see submit()).
        self._executed = 0
        self._failures = 0
        self._cancelled = 0
        self._runtime = 0.0

    @property
    def max_workers(self) -> int:
        """Upper bound on the number of threads (futurist keeps it private)."""
        return self._max_workers

    @property
    def idle_timeout(self) -> float:
        return self._idle_timeout

    def get_num_idle_workers(self) -> int:
        """Threads free to take new work now (queued items already claim theirs)."""
        with self._shutdown_lock:
            return self._idle

    @property
    def statistics(self) -> futurist.ExecutorStatistics:
        """futurist's ExecutorStatistics; ``runtime`` counts time spent running tasks."""
        with self._shutdown_lock:
            return futurist.ExecutorStatistics(
                failures=self._failures,
                executed=self._executed,
                runtime=self._runtime,
                cancelled=self._cancelled,
            )

    def has_free_thread(self) -> bool:
        """Whether a new task would start at once; read without the lock, so a hint."""
        return self._idle > 0 or len(self._workers) < self._max_workers

    def submit(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> futurist.Future:
        # futurist's submit() wraps every future in a statistics gatherer (a done
        # callback and a new ExecutorStatistics per task under a second lock): 1.3x
        # the standard library pool on a scatter-gather. The threads count here.
        with self._shutdown_lock:
            if self._shutdown:
                raise RuntimeError("Can not schedule new futures after being shutdown")
            if self._rejects:
                self._check_and_reject(self, self._work_queue.qsize())
            fut: futurist.Future = futurist.Future()
            if self._idle:
                self._idle -= 1
                if self._idle < self._fewest_idle:
                    self._fewest_idle = self._idle
            elif len(self._workers) < self._max_workers:
                self._add_thread()
            else:
                self._backlog += 1
            self._work_queue.put(futurist_utils.WorkItem(fut, fn, *args, **kwargs))
            return fut

    def _add_thread(self) -> None:
        thread = threading.Thread(
            target=self._work, name=f"{self.name}-{next(self._thread_ids)}", daemon=True
        )
        self._workers.append(thread)  # type: ignore[arg-type]
        try:
            thread.start()
        except BaseException:
            # e.g. "can't start new thread": fail this submit, keep the count right.
            self._workers.remove(thread)  # type: ignore[arg-type]
            raise

    def _work(self) -> None:
        """Body of each pool thread; the thread starts with one item claimed."""
        me = threading.current_thread()
        watch = None
        while True:
            try:
                item = self._work_queue.get(timeout=self._idle_timeout)
            except queue.Empty:
                with self._shutdown_lock:
                    # After shutdown a _STOP is on its way for this thread: wait for it
                    # so the work queued before it still finds a thread.
                    if self._idle and not self._shutdown:
                        self._idle -= 1
                        self._fewest_idle = min(self._fewest_idle, self._idle)
                        self._workers.remove(me)  # type: ignore[arg-type]
                        # Its malloc cache is freed once it has exited: trim then.
                        _glibc_malloc.trimmer.request()
                        return
                continue
            if item is _STOP:
                with self._shutdown_lock:
                    self._workers.remove(me)  # type: ignore[arg-type]
                return
            outcome, started, ended, value, watch = _run(item, self, watch)
            future = item.future
            del item
            # Counted, and this thread idle again, before the caller is woken: its
            # result() returns with the task in the statistics and a free thread.
            with self._shutdown_lock:
                if outcome is _CANCELLED:
                    self._cancelled += 1
                else:
                    self._runtime += ended - started
                    if outcome is _FAILED:
                        self._failures += 1
                    else:
                        self._executed += 1
                leaves = False
                if self._backlog:
                    self._backlog -= 1
                elif (self._surplus or ended >= self._window_end) and self._leaves_the_pool(
                    me, ended
                ):
                    leaves = True
                else:
                    self._idle += 1
            if outcome is _EXECUTED:
                future.set_result(value)
            elif outcome is _FAILED:
                future.set_exception(value)
            del future, value
            _request_context.forget()  # the next task starts without this one's
            if leaves:
                _glibc_malloc.trimmer.request()  # as a thread that idled out
                return

    def _leaves_the_pool(self, me: threading.Thread, now: float) -> bool:
        """With the lock, a thread done with its task: whether the load can do without it.

        The queue wakes its waiting threads first in, first out, so under a steady
        load each thread of a burst's peak takes a task now and then and none
        waits ``idle_timeout`` for one: the pool would keep its peak for as long
        as the load lasts. So the pool counts the fewest threads idle at once over
        each ``idle_timeout``: that many were not needed in it, and as many
        threads leave as they finish their next task, while another is idle to
        take the work.
        """
        if now >= self._window_end:
            self._surplus = self._fewest_idle
            self._fewest_idle = self._idle
            self._window_end = now + self._idle_timeout
        if self._surplus <= 0 or not self._idle or self._shutdown:
            return False
        self._surplus -= 1
        self._workers.remove(me)  # type: ignore[arg-type]
        return True

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stop accepting work; queued work still runs unless ``cancel_futures``."""
        with self._shutdown_lock:
            if cancel_futures:
                self._cancel_queued()
            if not self._shutdown:
                self._shutdown = True
                for _ in self._workers:
                    self._work_queue.put(_STOP)
            threads = list(self._workers)
        if wait:
            for thread in threads:
                thread.join()  # type: ignore[attr-defined]

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the threads to exit after shutdown(); False if some still run."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._shutdown_lock:
            threads = list(self._workers)
        for thread in threads:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            thread.join(remaining)  # type: ignore[attr-defined]
        return not any(t.is_alive() for t in threads)  # type: ignore[attr-defined]

    def _cancel_queued(self) -> None:
        stops = 0
        cancelled = 0
        while True:
            try:
                item = self._work_queue.get_nowait()
            except queue.Empty:
                break
            if item is _STOP:
                stops += 1
            else:
                item.future.cancel()
                cancelled += 1
        self._cancelled += cancelled
        # Keep the invariant: the threads those items were queued for are now free.
        self._idle += cancelled - self._backlog
        self._backlog = 0
        for _ in range(stops):
            self._work_queue.put(_STOP)
