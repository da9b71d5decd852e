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
import concurrent.futures
import logging
import os
import threading
from typing import Any
import warnings
import weakref

from oslo_threading_backend import loopingcall
from oslo_threading_backend.loopingcall import WaitTimeout
from oslo_threading_backend.loopingcall import _callable_name
from oslo_threading_backend.loopingcall import _check_callable
from oslo_threading_backend.loopingcall import _check_seconds

LOG = logging.getLogger(__name__)

__all__ = [
    "Thread",
    "ThreadCancelled",
    "ThreadGroup",
    "current_thread",
    "stop_requested",
]

_QUEUED = "queued"
_RUNNING = "running"
_DONE = "done"
_CANCELLED = "cancelled"

_current = threading.local()


class ThreadCancelled(concurrent.futures.CancelledError):
    """The thread never ran: cancelled while queued, or lost at fork()."""


def current_thread() -> Thread | None:
    """The group Thread running the caller, or None outside any group thread."""
    return getattr(_current, "thread", None)


def stop_requested() -> bool:
    """True if the calling group thread was asked to stop: check it between steps of work."""
    thread = current_thread()
    return thread is not None and thread.stop_requested


class Thread:
    """One native thread of a ThreadGroup, with eventlet GreenThread's controls.

    Made by ``ThreadGroup.add_thread()``; it may wait in the group's queue
    before it starts.
    """

    def __init__(
        self,
        group: ThreadGroup,
        func: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        name: str,
    ) -> None:
        self.group = group
        #: The native thread (not started while this Thread is queued).
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._func: Callable[..., Any] | None = func
        self._args = args
        self._kwargs = kwargs
        self._state = _QUEUED
        self._result: Any = None
        self._exception: BaseException | None = None
        self._done = threading.Event()
        self._stop_event = threading.Event()
        self._links: list[tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]] = []
        self._slot_released = False

    def __repr__(self) -> str:
        return f"<Thread {self.name} {self._state}>"

    @property
    def name(self) -> str:
        return self.thread.name

    @property
    def ident(self) -> int | None:
        """The native thread id (``threading.get_ident()`` in it); None until it starts."""
        return self.thread.ident

    @property
    def stop_event(self) -> threading.Event:
        """Set by ``stop()``: a long-running target can wait on it instead of sleeping."""
        return self._stop_event

    @property
    def stop_requested(self) -> bool:
        """True once ``stop()`` was called: the target should return soon."""
        return self._stop_event.is_set()

    def ready(self) -> bool:
        """True once the thread has ended (returned, raised or was cancelled)."""
        return self._done.is_set()

    def stop(self) -> None:
        """Ask the thread to end: cancels it if queued, else sets its stop event.

        A running native thread cannot be killed; its target must check
        ``stop_requested()`` (or wait on ``stop_event``) and return.
        """
        self._stop_event.set()
        self.cancel()

    def cancel(self, *throw_args: Any) -> bool:
        """Remove the thread if it has not started; return whether it was removed.

        ``wait()`` on a cancelled thread raises ``throw_args[0]`` if given (an
        exception class or instance, as eventlet), else ThreadCancelled.
        """
        exception: BaseException
        if throw_args:
            exc = throw_args[0]
            exception = exc() if isinstance(exc, type) else exc
            if not isinstance(exception, BaseException):
                raise TypeError(f"cancel() takes an exception class or instance, not {exc!r}")
        else:
            exception = ThreadCancelled(f"{self.name} was cancelled before it started")
        group = self.group
        with group._cond:
            if self._state != _QUEUED:
                return False
            group._remove_queued(self)
            self._end_locked(_CANCELLED, None, exception)
        self._run_links()
        return True

    def wait(self, timeout: float | None = None) -> Any:
        """Block until the thread ends; return its result or raise its exception.

        :raises ThreadCancelled: if it was cancelled before it started.
        :raises WaitTimeout: if ``timeout`` seconds pass first.
        """
        _check_seconds("timeout", timeout, allow_none=True)
        if not self._done.wait(timeout):
            raise WaitTimeout(f"{self.name} did not end within {timeout} seconds")
        if self._exception is not None:
            raise self._exception
        return self._result

    def link(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """Call ``func(thread, *args, **kwargs)`` when the thread ends (now if it has).

        Links run in the ending thread, before it leaves the group, so
        ``ThreadGroup.wait()`` also waits for them; their exceptions are logged.
        """
        _check_callable("func", func)
        with self.group._cond:
            if self._state in (_QUEUED, _RUNNING):
                self._links.append((func, args, kwargs))
                return
        self._call_link(func, args, kwargs)

    def unlink(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> bool:
        """Remove a link added with the same arguments; return whether one was found."""
        with self.group._cond:
            try:
                self._links.remove((func, args, kwargs))
            except ValueError:
                return False
            return True

    # -- internals: state changes happen under the group's lock --------------

    def _run(self) -> None:
        _current.thread = self
        func, args, kwargs = self._func, self._args, self._kwargs
        self._func, self._args, self._kwargs = None, (), {}
        result: Any = None
        exception: BaseException | None = None
        try:
            result = func(*args, **kwargs)  # type: ignore[misc]
        except BaseException as exc:
            # Kept for wait(); logged now so an error nobody waits for is not lost.
            if not isinstance(exc, SystemExit):
                LOG.error(
                    "Thread %s running %s failed", self.name, _callable_name(func), exc_info=True
                )
            exception = exc
        finally:
            del func, args, kwargs
        group = self.group
        try:
            with group._cond:
                if self._state == _RUNNING:
                    self._end_locked(_DONE, result, exception)
            self._run_links()
        finally:
            _current.thread = None
            group._release_slot(self)

    def _end_locked(self, state: str, result: Any, exception: BaseException | None) -> None:
        self._state = state
        self._result = result
        self._exception = exception
        self._done.set()

    def _run_links(self) -> None:
        with self.group._cond:
            links, self._links = self._links, []
        for func, args, kwargs in links:
            self._call_link(func, args, kwargs)

    def _call_link(self, func: Callable[..., Any], args: tuple[Any, ...], kwargs: Any) -> None:
        try:
            func(self, *args, **kwargs)
        except Exception:
            LOG.exception("Error in a link of thread %s", self.name)

    def _reset_after_fork(self, survives: bool) -> None:
        # In a forked child: fresh events (a dead thread may have held their locks).
        done, stop = self._done.is_set(), self._stop_event.is_set()
        self._done, self._stop_event = threading.Event(), threading.Event()
        if stop:
            self._stop_event.set()
        if done:
            self._done.set()
        elif not survives:
            self._links = []
            self._end_locked(
                _CANCELLED,
                None,
                ThreadCancelled(
                    f"{self.name} was in the parent process and did not survive fork()"
                ),
            )


def _check_max_threads(max_threads: Any) -> int:
    if not isinstance(max_threads, int) or isinstance(max_threads, bool):
        raise TypeError(
            f"max_threads must be an int >= 1, not {type(max_threads).__name__} ({max_threads!r})"
        )
    if max_threads < 1:
        raise ValueError(f"max_threads must be an int >= 1, not {max_threads!r}")
    return max_threads


_live_groups: weakref.WeakSet[ThreadGroup] = weakref.WeakSet()


class ThreadGroup:
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

    def add_timer_args(
        self,
        interval: float,
        callback: Callable[..., Any],
        args: list[Any] | tuple[Any, ...] | None = None,
        kwargs: dict[str, Any] | None = None,
        initial_delay: float | None = None,
        stop_on_exception: bool = True,
    ) -> loopingcall.FixedIntervalLoopingCall:
        """Call ``callback(*args, **kwargs)`` every ``interval`` seconds."""
        args, kwargs = _check_args(args, kwargs)
        _check_callable("callback", callback)
        pulse = loopingcall.FixedIntervalLoopingCall(callback, *args, **kwargs)
        self._add_timer(
            pulse,
            lambda: pulse.start(
                interval=interval,
                initial_delay=initial_delay,
                stop_on_exception=stop_on_exception,
            ),
        )
        return pulse

    def add_timer(
        self,
        interval: float,
        callback: Callable[..., Any],
        initial_delay: float | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> loopingcall.FixedIntervalLoopingCall:
        """oslo.service's older form of ``add_timer_args()``; callback arguments are deprecated."""
        if args or kwargs:
            warnings.warn(
                "Calling add_timer() with arguments is deprecated. Use add_timer_args() instead.",
                DeprecationWarning,
                stacklevel=2,
            )
        return self.add_timer_args(
            interval, callback, list(args), kwargs, initial_delay=initial_delay
        )

    def add_dynamic_timer_args(
        self,
        callback: Callable[..., Any],
        args: list[Any] | tuple[Any, ...] | None = None,
        kwargs: dict[str, Any] | None = None,
        initial_delay: float | None = None,
        periodic_interval_max: float | None = None,
        stop_on_exception: bool = True,
    ) -> loopingcall.DynamicLoopingCall:
        """Call ``callback(*args, **kwargs)`` again after the seconds it returns."""
        args, kwargs = _check_args(args, kwargs)
        _check_callable("callback", callback)
        timer = loopingcall.DynamicLoopingCall(callback, *args, **kwargs)
        self._add_timer(
            timer,
            lambda: timer.start(
                initial_delay=initial_delay,
                periodic_interval_max=periodic_interval_max,
                stop_on_exception=stop_on_exception,
            ),
        )
        return timer

    def add_dynamic_timer(
        self,
        callback: Callable[..., Any],
        initial_delay: float | None = None,
        periodic_interval_max: float | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> loopingcall.DynamicLoopingCall:
        """oslo.service's older form of ``add_dynamic_timer_args()``."""
        if args or kwargs:
            warnings.warn(
                "Calling add_dynamic_timer() with arguments is deprecated. "
                "Use add_dynamic_timer_args() instead.",
                DeprecationWarning,
                stacklevel=2,
            )
        return self.add_dynamic_timer_args(
            callback,
            list(args),
            kwargs,
            initial_delay=initial_delay,
            periodic_interval_max=periodic_interval_max,
        )

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


def _check_args(args: Any, kwargs: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
    if args is None:
        args = ()
    elif not isinstance(args, (list, tuple)):
        raise TypeError(f"args must be a list, a tuple or None, not {type(args).__name__}")
    if kwargs is None:
        kwargs = {}
    elif not isinstance(kwargs, dict):
        raise TypeError(f"kwargs must be a dict or None, not {type(kwargs).__name__}")
    return tuple(args), kwargs


def _reset_groups_after_fork() -> None:
    for group in list(_live_groups):
        try:
            group._reset_after_fork()
        except Exception:
            pass  # nothing may raise out of a fork hook


os.register_at_fork(after_in_child=_reset_groups_after_fork)
