"""oslo.service's ThreadGroup on native threads.

A group runs at most ``max_threads`` threads at once; more wait in a queue
and start as slots free, as eventlet's GreenPool does (they never raise).
Native threads cannot be killed, so ``Thread.stop()`` and ``ThreadGroup.stop()``
are cooperative: they set the thread's stop event, which the target reads
through ``stop_requested()`` or ``current_thread().stop_event``. A thread that
has not started yet is cancelled outright.

Fork safety: a group made in a parent process keeps working in a forked child.
The child has none of the parent's threads, so after ``fork()`` every live group
gets fresh locks, forgets the parent's threads (their ``wait()`` raises
ThreadCancelled) and drops queued work (see ``_reset_groups_after_fork``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
import logging
import os
import threading
from typing import Any
import warnings
import weakref

from oslo_threading_backend import loopingcall
from oslo_threading_backend._threads.arg_checks import check_callable as _check_callable
from oslo_threading_backend._threads.arg_checks import check_seconds as _check_seconds
from oslo_threading_backend._threads.group_thread import DONE as _DONE
from oslo_threading_backend._threads.group_thread import QUEUED as _QUEUED
from oslo_threading_backend._threads.group_thread import RUNNING as _RUNNING
from oslo_threading_backend._threads.group_thread import Thread
from oslo_threading_backend._threads.group_thread import ThreadCancelled
from oslo_threading_backend._threads.group_thread import current_thread
from oslo_threading_backend._threads.group_thread import stop_requested
from oslo_threading_backend._threads.group_timers import GroupTimers
from oslo_threading_backend._threads.hung_tasks import runs_until_stopped

LOG = logging.getLogger(__name__)

__all__ = [
    "Thread",
    "ThreadCancelled",
    "ThreadGroup",
    "current_thread",
    "runs_until_stopped",
    "stop_requested",
]


def _check_max_threads(max_threads: Any) -> int:
    if not isinstance(max_threads, int) or isinstance(max_threads, bool):
        raise TypeError(
            f"max_threads must be an int >= 1, not {type(max_threads).__name__} ({max_threads!r})"
        )
    if max_threads < 1:
        raise ValueError(f"max_threads must be an int >= 1, not {max_threads!r}")
    return max_threads


_live_groups: weakref.WeakSet[ThreadGroup] = weakref.WeakSet()


class ThreadGroup(GroupTimers):
    """Threads and timers that a service starts, stops and waits for together.

    Threads are named ``"<name>-<n>"`` (``name`` defaults to "ThreadGroup") so
    thread dumps show where they come from; a thread leaves ``threads`` when it
    ends, or when ``stop()`` asks it to (as in oslo.service; ``wait()`` still
    waits for it to return). Timers are looping calls on threads of their own, outside
    ``max_threads``; an ended timer leaves ``timers``.
    """

    def __init__(self, max_threads: int = 1000, name: str | None = None) -> None:
        self._max_threads = _check_max_threads(max_threads)
        if name is not None and not isinstance(name, str):
            raise TypeError(f"name must be a str or None, not {type(name).__name__}")
        self.name = name or "ThreadGroup"
        self._counter = 0
        self._init_state()
        _live_groups.add(self)

    def _init_state(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._threads: list[Thread] = []  # running and queued, in the order added
        # Asked to stop by stop() but maybe still running: wait() waits for them.
        self._stopped_threads: list[Thread] = []
        self._queue: deque[Thread] = deque()
        self._running = 0
        self._timers: list[loopingcall.LoopingCallBase] = []
        # Stopped by stop_timers() but maybe still in a run: wait() waits for them.
        self._stopped_timers: list[loopingcall.LoopingCallBase] = []
        self._stopping = 0  # stop() calls in progress
        # Native threads of ended Threads, still returning: wait() joins them so
        # that none is left when it returns (e.g. before a fork()).
        self._exiting: list[threading.Thread] = []

    def __repr__(self) -> str:
        return (
            f"<ThreadGroup {self.name} running={self._running} queued={len(self._queue)}"
            f" max_threads={self._max_threads} timers={len(self._timers)}>"
        )

    @property
    def thread_pool_size(self) -> int:
        """How many threads run at once; more wait in the queue."""
        return self._max_threads

    @property
    def max_threads(self) -> int:
        warnings.warn(
            "ThreadGroup.max_threads is deprecated and will be removed. "
            "Use thread_pool_size instead.",
            DeprecationWarning,
            stacklevel=2,
        )
        return self._max_threads

    @property
    def threads(self) -> list[Thread]:
        """A snapshot of the threads not yet ended nor stopped by ``stop()``, running or queued."""
        with self._cond:
            return list(self._threads)

    @property
    def timers(self) -> list[loopingcall.LoopingCallBase]:
        """A snapshot of the timers not yet ended or stopped."""
        with self._cond:
            return list(self._timers)

    # -- threads -------------------------------------------------------------

    def add_thread(self, callback: Callable[..., Any], *args: Any, **kwargs: Any) -> Thread:
        """Run ``callback(*args, **kwargs)`` on a thread of the group.

        Starts it at once if fewer than ``thread_pool_size`` threads run, else
        queues it.

        :raises RuntimeError: while ``stop()`` runs, or if called from a thread
            of this group that was asked to stop.
        """
        _check_callable("callback", callback)
        with self._cond:
            self._check_accepting("add_thread")
            self._counter += 1
            thread = Thread(self, callback, args, kwargs, name=f"{self.name}-{self._counter}")
            self._threads.append(thread)
            if self._running < self._max_threads:
                self._running += 1
                thread._state = _RUNNING
            else:
                self._queue.append(thread)
                LOG.debug(
                    "%s: all %d threads busy, %s queued (%d waiting)",
                    self.name,
                    self._max_threads,
                    thread.name,
                    len(self._queue),
                )
                return thread
        self._start_native(thread, raise_errors=True)
        return thread

    def thread_done(self, thread: Thread) -> None:
        """Remove ``thread`` from the group; called for you when a thread ends.

        A queued thread is cancelled. A running one is only forgotten: it keeps
        running and its slot stays taken until it ends.
        """
        if not thread.cancel():
            with self._cond:
                if self._forget_locked(thread):
                    self._cond.notify_all()

    def _forget_locked(self, thread: Thread) -> bool:
        found = False
        for threads in (self._threads, self._stopped_threads):
            if thread in threads:
                threads.remove(thread)
                found = True
        return found

    def _check_accepting(self, what: str) -> None:
        if self._stopping:
            raise RuntimeError(
                f"{self.name} is stopping: {what}() is refused until stop() returns"
            )
        me = current_thread()
        if me is not None and me.group is self and me.stop_requested:
            raise RuntimeError(
                f"{what}() called from {me.name}, a thread of {self.name} asked to stop"
            )

    def _start_native(self, thread: Thread, raise_errors: bool) -> None:
        try:
            thread.thread.start()
        except BaseException as exc:
            # E.g. "can't start new thread": end the Thread with that error.
            LOG.error("%s: could not start thread %s: %s", self.name, thread.name, exc)
            with self._cond:
                thread._end_locked(_DONE, None, exc)
            thread._run_links()
            self._release_slot(thread)
            if raise_errors:
                raise

    def _remove_queued(self, thread: Thread) -> None:
        # Called with the lock held.
        try:
            self._queue.remove(thread)
        except ValueError:
            pass
        if thread in self._threads:
            self._threads.remove(thread)
        self._cond.notify_all()

    def _release_slot(self, thread: Thread) -> None:
        """A running thread ended: free its slot and start the next queued one."""
        with self._cond:
            if thread._slot_released:
                return
            thread._slot_released = True
            self._forget_locked(thread)
            self._running -= 1
            if thread.thread is threading.current_thread():
                self._exiting = [t for t in self._exiting if t.is_alive()]
                self._exiting.append(thread.thread)
            next_thread = None
            while self._queue and self._running < self._max_threads:
                candidate = self._queue.popleft()
                if candidate._state == _QUEUED:
                    candidate._state = _RUNNING
                    self._running += 1
                    next_thread = candidate
                    break
            self._cond.notify_all()
        if next_thread is not None:
            self._start_native(next_thread, raise_errors=False)

    def _others_done(self) -> bool:
        me = current_thread()
        return all(t is me for t in self._threads) and all(t is me for t in self._stopped_threads)

    def _wait_threads(self, timeout: float | None = None) -> bool:
        # The calling thread is skipped: a group thread may wait for its group.
        with self._cond:
            if not self._cond.wait_for(self._others_done, timeout):
                return False
            exiting, self._exiting = self._exiting, []
        me = threading.current_thread()
        for native in exiting:
            if native is not me:
                native.join()
        return True

    def _stop_threads(self) -> None:
        me = current_thread()
        with self._cond:
            queued = list(self._queue)
            running = [t for t in self._threads if t._state == _RUNNING and t is not me]
            # They leave ``threads`` now, as oslo.service's threading backend
            # empties it; wait() still waits for them to return.
            self._threads = [t for t in self._threads if t not in running]
            self._stopped_threads.extend(running)
        for thread in queued:
            thread.stop()
        for thread in running:
            thread.stop()

    # -- timers --------------------------------------------------------------

    def _add_timer(
        self,
        timer: loopingcall.LoopingCallBase,
        start: Callable[[], loopingcall.LoopingCallResult],
    ) -> None:
        with self._cond:
            self._check_accepting("add_timer")
            self._timers.append(timer)
        try:
            done = start()
        except BaseException:
            self.timer_done(timer)
            raise
        # An ended timer leaves the group (oslo.service keeps it until stop_timers()).
        done._add_done_callback(lambda: self.timer_done(timer))

    def timer_done(self, timer: loopingcall.LoopingCallBase) -> None:
        """Remove ``timer`` from the group (it is not stopped)."""
        with self._cond:
            for timers in (self._timers, self._stopped_timers):
                if timer in timers:
                    timers.remove(timer)

    def stop_timers(self, wait: bool = False) -> None:
        """Stop every timer and remove it; with ``wait``, until their runs end."""
        with self._cond:
            timers, self._timers = self._timers, []
            self._stopped_timers.extend(timers)
        for timer in timers:
            timer.stop()
        if wait:
            self._wait_timers(timers)

    @staticmethod
    def _wait_timers(timers: list[loopingcall.LoopingCallBase]) -> None:
        me = threading.current_thread()
        for timer in timers:
            if timer._thread is me or timer.done is None:
                continue  # a timer's callback stopping its own group
            try:
                timer.wait()
            except Exception:
                pass  # already logged by the looping call when it failed

    # -- the group -----------------------------------------------------------

    def stop(self, graceful: bool = False) -> None:
        """Stop timers and threads.

        ``graceful``: wait for running timer runs and for every thread (queued
        ones still run). Otherwise queued threads are cancelled and running
        ones asked to stop (see ``Thread.stop()``); ``wait()`` then waits for
        them to return. The calling thread, if in the group, is left alone.
        New work is refused while this runs; afterwards the group can be reused
        (a service's ``start()`` after a reload).
        """
        with self._cond:
            self._stopping += 1
        try:
            self.stop_timers(wait=graceful)
            if graceful:
                self._wait_threads()
            else:
                self._stop_threads()
        finally:
            with self._cond:
                self._stopping -= 1

    def wait(self) -> None:
        """Block until every timer and every thread (but the caller) has ended.

        Stop timers first (``stop_timers()``/``stop()``): a running timer never
        ends by itself. Thread and timer errors were logged when they happened
        and are not raised here.
        """
        with self._cond:
            timers = self._timers + self._stopped_timers
        self._wait_timers(timers)
        self._wait_threads()

    def waitall(self) -> None:
        """Same as ``wait()``."""
        self.wait()

    def cancel(self, *throw_args: Any, timeout: float | None = None, wait_time: float = 1) -> None:
        """Cancel the queued threads; with ``timeout``, then stop what still runs after it.

        ``wait_time`` is accepted for oslo.service compatibility and unused:
        the group waits on a condition rather than polling.
        """
        _check_seconds("timeout", timeout, allow_none=True)
        _check_seconds("wait_time", wait_time)
        with self._cond:
            queued = list(self._queue)
        for thread in queued:
            thread.cancel(*throw_args)
        if timeout is None:
            return
        if not self._wait_threads(timeout):
            LOG.debug("Cancel timeout reached, stopping threads.")
            self.stop()

    def _reset_after_fork(self) -> None:
        # In a forked child only the forking thread exists. Keep it if it is one
        # of ours; every other thread is gone and queued work is dropped.
        me = threading.current_thread()
        old = self._threads + self._stopped_threads
        self._init_state()
        for thread in old:
            survives = thread.thread is me and thread._state == _RUNNING
            thread._reset_after_fork(survives)
            if survives:
                self._threads.append(thread)
                self._running += 1


def _reset_groups_after_fork() -> None:
    for group in list(_live_groups):
        try:
            group._reset_after_fork()
        except Exception:
            pass  # nothing may raise out of a fork hook


os.register_at_fork(after_in_child=_reset_groups_after_fork)
