"""``threadgroup.Thread``: one native thread of a ThreadGroup, with GreenThread's controls.

Its state changes under its group's lock (``group._cond``) and it hands its
slot back through ``group._release_slot()``: the group and its threads are one
design, kept in two modules for size. The public names here are
``oslo_threading_backend.threadgroup``'s (their ``__module__`` says so).
"""

from __future__ import annotations

from collections.abc import Callable
import concurrent.futures
import logging
import threading
from typing import Any
from typing import Protocol

from oslo_threading_backend._threads import hung_tasks as _hung_tasks
from oslo_threading_backend._threads.arg_checks import callable_name as _callable_name
from oslo_threading_backend._threads.arg_checks import check_callable as _check_callable
from oslo_threading_backend._threads.arg_checks import check_seconds as _check_seconds
from oslo_threading_backend._threads.looping_call_result import WaitTimeout


class Group(Protocol):
    """What a Thread needs of its ThreadGroup (which satisfies it; no import back up)."""

    _cond: threading.Condition

    def _remove_queued(self, thread: Thread) -> None: ...

    def _release_slot(self, thread: Thread) -> None: ...


LOG = logging.getLogger("oslo_threading_backend.threadgroup")


QUEUED = "queued"
RUNNING = "running"
DONE = "done"
CANCELLED = "cancelled"

current = threading.local()


class ThreadCancelled(concurrent.futures.CancelledError):
    """The thread never ran: cancelled while queued, or lost at fork()."""


def current_thread() -> Thread | None:
    """The group Thread running the caller, or None outside any group thread."""
    return getattr(current, "thread", None)


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
        group: Group,
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
        self._state = QUEUED
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
            if self._state != QUEUED:
                return False
            group._remove_queued(self)
            self._end_locked(CANCELLED, None, exception)
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
            if self._state in (QUEUED, RUNNING):
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
        current.thread = self
        func, args, kwargs = self._func, self._args, self._kwargs
        self._func, self._args, self._kwargs = None, (), {}
        result: Any = None
        exception: BaseException | None = None
        watched = _hung_tasks.begin_thread(f"thread group {getattr(self.group, 'name', '')}", func)
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
            _hung_tasks.end(watched)
            del func, args, kwargs
        group = self.group
        try:
            with group._cond:
                if self._state == RUNNING:
                    self._end_locked(DONE, result, exception)
            self._run_links()
        finally:
            current.thread = None
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
                CANCELLED,
                None,
                ThreadCancelled(
                    f"{self.name} was in the parent process and did not survive fork()"
                ),
            )


for _public in (ThreadCancelled, current_thread, stop_requested, Thread):
    _public.__module__ = "oslo_threading_backend.threadgroup"
del _public
