"""oslo.service's looping calls on native threads.

Each running call owns one daemon thread, named after its function, that exits
when the call ends: nothing outlives a call (oslo.service 4.8 leaves a
one-thread executor behind per call). Every interval wait goes through
``LoopingCallBase._sleep(timeout)``, a wait on the call's stop event, so
``stop()`` ends a wait at once; it is also the one seam
``oslo_threading_backend.fixture.SleepFixture`` replaces.

A call created in a parent process can be started again in a forked child: the
child has none of the parent's threads, so a call that was running there is
reset to "not running" after the fork (see ``_reset_calls_after_fork``).
"""

from __future__ import annotations

from collections.abc import Callable
import logging
import math
import os
import random
import threading
import time
from typing import Any
import weakref

from oslo_threading_backend._threads import hung_tasks as _hung_tasks
from oslo_threading_backend._threads.arg_checks import callable_name as _callable_name
from oslo_threading_backend._threads.arg_checks import check_callable as _check_callable
from oslo_threading_backend._threads.arg_checks import check_seconds as _check_seconds
from oslo_threading_backend._threads.arg_checks import is_number as _is_number
from oslo_threading_backend._threads.fixed_schedule import FixedSchedule as _FixedSchedule
from oslo_threading_backend._threads.looping_call_result import DONE_EXCEPTIONS as _DONE
from oslo_threading_backend._threads.looping_call_result import LoopingCallDone
from oslo_threading_backend._threads.looping_call_result import LoopingCallResult
from oslo_threading_backend._threads.looping_call_result import LoopingCallTimeOut
from oslo_threading_backend._threads.looping_call_result import WaitTimeout
from oslo_threading_backend._threads.retry_decorator import RetryDecorator

LOG = logging.getLogger(__name__)

#: oslo.log's TRACE level: the per-iteration "sleeping for" line is below DEBUG.
_TRACE = 5

#: The loop's clock, a module global so tests can drive the schedule with a fake one
#: (handed to the schedule as ``lambda: _now()``, so a clock set later reaches it too).
_now = time.monotonic

__all__ = [
    "BackOffLoopingCall",
    "DynamicLoopingCall",
    "FixedIntervalLoopingCall",
    "FixedIntervalWithTimeoutLoopingCall",
    "LoopingCallBase",
    "LoopingCallDone",
    "LoopingCallResult",
    "LoopingCallTimeOut",
    "RetryDecorator",
    "WaitTimeout",
]


# -- the loop ------------------------------------------------------------------

_live_calls: weakref.WeakSet[LoopingCallBase] = weakref.WeakSet()


class LoopingCallBase:
    """Runs ``f(*args, **kw)`` repeatedly on a thread of its own.

    Subclasses give the timing through ``_start(idle_for, ...)``: ``idle_for(result,
    elapsed)`` returns how long to wait before the next run. ``f`` ends the call
    by raising LoopingCallDone; any other exception ends it with that exception
    (unless ``stop_on_exception`` is False, then it is logged and the loop goes on).
    """

    _KIND = "Unknown looping call"
    _RUN_ONLY_ONE_MESSAGE = "A looping call can only run one function at a time"

    def __init__(self, f: Callable[..., Any] | None = None, *args: Any, **kw: Any) -> None:
        if f is not None:
            _check_callable("f", f)
        self.f = f
        self.args = args
        self.kw = kw
        #: oslo.service's threading backend names it ``kwargs``; same dict.
        self.kwargs = kw
        #: The result of the latest run (None before the first ``start()``).
        self.done: LoopingCallResult | None = None
        self._thread: threading.Thread | None = None
        self._abort = threading.Event()
        self._lock = threading.Lock()
        self._last_run_failed = False
        _live_calls.add(self)

    @property
    def _running(self) -> bool:
        # oslo.service's meaning: "not asked to stop".
        return not self._abort.is_set()

    def stop(self) -> None:
        """Ask the call to end; it does before its next run, even mid-wait.

        A run in progress is not interrupted. ``wait()`` then returns True.
        """
        self._abort.set()

    def wait(self, timeout: float | None = None) -> Any:
        """Block until the latest run ends; return its value or raise its error."""
        done = self.done
        if done is None:
            raise RuntimeError(f"{type(self).__name__}.wait() called before start()")
        return done.wait(timeout)

    def _sleep(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds, returning early if ``stop()`` is called.

        The single seam every wait of the loop goes through (initial delay and
        intervals); SleepFixture replaces it so waits return at once.
        """
        self._abort.wait(timeout)

    def _start(
        self,
        idle_for: Callable[[Any, float], float],
        initial_delay: float | None = None,
        stop_on_exception: bool = True,
    ) -> LoopingCallResult:
        """Start the loop thread; ``idle_for(result, elapsed)`` gives each wait."""
        _check_seconds("initial_delay", initial_delay, allow_none=True)
        if self.f is None:
            raise TypeError(f"{type(self).__name__} has no function to call (f is None)")
        _check_callable("f", self.f)
        with self._lock:
            if self._thread is not None:
                raise RuntimeError(self._RUN_ONLY_ONE_MESSAGE)
            self._abort.clear()
            done = LoopingCallResult()
            thread = threading.Thread(
                target=self._loop,
                args=(done, idle_for, initial_delay, stop_on_exception),
                name=f"LoopingCall({_callable_name(self.f)})",
                daemon=True,
            )
            self.done = done
            self._thread = thread
            done._runner = thread
            try:
                thread.start()
            except BaseException:
                self._thread = None
                self.done = None
                raise
        return done

    def _loop(
        self,
        done: LoopingCallResult,
        idle_for: Callable[[Any, float], float],
        initial_delay: float | None,
        stop_on_exception: bool,
    ) -> None:
        kind = self._KIND
        func_name = _callable_name(self.f)
        where = kind.rstrip(".").lower()  # as the stuck-task lines say it
        value: Any = True
        error: BaseException | None = None
        try:
            if initial_delay:
                self._sleep(initial_delay)
            while not self._abort.is_set():
                self._last_run_failed = False
                started = _now()
                watched = _hung_tasks.begin(where, self.f)
                try:
                    result = self.f(*self.args, **self.kw)
                except _DONE:
                    raise
                except Exception:
                    if stop_on_exception:
                        raise
                    LOG.error("%s %r failed", kind, func_name, exc_info=True)
                    self._last_run_failed = True
                    result = 0
                finally:
                    _hung_tasks.end(watched)
                elapsed = _now() - started
                if self._abort.is_set():
                    break
                idle = idle_for(result, elapsed)
                LOG.log(_TRACE, "%s %r sleeping for %.02f seconds", kind, func_name, idle)
                self._sleep(idle)
        except _DONE as exc:
            value = getattr(exc, "retvalue", True)
        except BaseException as exc:
            # BaseException too: a SystemExit here would otherwise end the thread
            # silently and leave every wait() blocked forever.
            if isinstance(exc, Exception):
                LOG.error("%s %r failed", kind, func_name, exc_info=True)
            value, error = None, exc
        finally:
            with self._lock:
                if self.done is done:
                    # Cleared before the result is sent: a waiter may start() again at once.
                    self._thread = None
            done._finish(value, error)

    def _reset_after_fork(self) -> None:
        # Runs in a forked child, where this call's thread (if any) does not exist.
        self._lock = threading.Lock()
        aborted = self._abort.is_set()
        self._abort = threading.Event()
        if aborted:
            self._abort.set()
        lost = self._thread is not None
        self._thread = None
        if self.done is not None:
            self.done._reinit_after_fork(lost)


def _reset_calls_after_fork() -> None:
    for call in list(_live_calls):
        try:
            call._reset_after_fork()
        except Exception:
            pass  # nothing may raise out of a fork hook


os.register_at_fork(after_in_child=_reset_calls_after_fork)


# -- the timings ---------------------------------------------------------------


class FixedIntervalLoopingCall(LoopingCallBase):
    """Runs the function every ``interval`` seconds, on a fixed schedule."""

    _RUN_ONLY_ONE_MESSAGE = "A fixed interval looping call can only run one function at a time"
    _KIND = "Fixed interval looping call"

    def start(
        self,
        interval: float,
        initial_delay: float | None = None,
        stop_on_exception: bool = True,
    ) -> LoopingCallResult:
        """Start calling; the first run is after ``initial_delay`` seconds (default at once)."""
        _check_seconds("interval", interval)
        return self._start(
            _FixedSchedule(self.f, interval, lambda: _now()),
            initial_delay=initial_delay,
            stop_on_exception=stop_on_exception,
        )


class FixedIntervalWithTimeoutLoopingCall(LoopingCallBase):
    """A fixed interval call that fails with LoopingCallTimeOut after ``timeout`` seconds."""

    _RUN_ONLY_ONE_MESSAGE = (
        "A fixed interval looping call with timeout checking and can only run one function at"
        " a time"
    )
    _KIND = "Fixed interval looping call with timeout checking."

    def start(
        self,
        interval: float,
        initial_delay: float | None = None,
        stop_on_exception: bool = True,
        timeout: float = 0,
    ) -> LoopingCallResult:
        """Start calling; ``timeout`` (seconds from now, 0 for none) is checked after each run."""
        _check_seconds("interval", interval)
        _check_seconds("timeout", timeout)
        return self._start(
            _FixedSchedule(self.f, interval, lambda: _now(), timeout=timeout),
            initial_delay=initial_delay,
            stop_on_exception=stop_on_exception,
        )


class DynamicLoopingCall(LoopingCallBase):
    """The function returns how long to wait before its next run.

    ``None`` means ``periodic_interval_max``; a longer value is capped at it.
    After a failure swallowed by ``stop_on_exception=False`` the next run is
    after ``periodic_interval_max`` (at once if there is none, as oslo.service).
    """

    _RUN_ONLY_ONE_MESSAGE = "A dynamic interval looping call can only run one function at a time"
    _TASK_MISSING_SLEEP_VALUE_MESSAGE = (
        "A dynamic interval looping call should supply either an interval or periodic_interval_max"
    )
    _KIND = "Dynamic interval looping call"

    def start(
        self,
        initial_delay: float | None = None,
        periodic_interval_max: float | None = None,
        stop_on_exception: bool = True,
    ) -> LoopingCallResult:
        """Start calling; the function's return value sets each wait."""
        _check_seconds("periodic_interval_max", periodic_interval_max, allow_none=True)

        def idle_for(suggested: Any, elapsed: float) -> float:
            if self._last_run_failed:
                return periodic_interval_max if periodic_interval_max is not None else 0
            if suggested is None:
                if periodic_interval_max is None:
                    raise RuntimeError(self._TASK_MISSING_SLEEP_VALUE_MESSAGE)
                return periodic_interval_max
            if not _is_number(suggested) or math.isnan(suggested):
                raise TypeError(
                    f"{_callable_name(self.f)} must return a number of seconds or None,"
                    f" not {type(suggested).__name__} ({suggested!r})"
                )
            delay = max(suggested, 0)
            if periodic_interval_max is not None:
                delay = min(delay, periodic_interval_max)
            return delay

        return self._start(
            idle_for, initial_delay=initial_delay, stop_on_exception=stop_on_exception
        )


class BackOffLoopingCall(LoopingCallBase):
    """Retries with jittered exponential backoff while the function returns False.

    A truthy return resets the backoff; the call ends with LoopingCallDone, or
    with LoopingCallTimeOut once the time spent backing off would pass ``timeout``.
    """

    _RNG = random.SystemRandom()
    _KIND = "Dynamic backoff interval looping call"
    _RUN_ONLY_ONE_MESSAGE = (
        "A dynamic backoff interval looping call can only run one function at a time"
    )

    def __init__(self, f: Callable[..., Any] | None = None, *args: Any, **kw: Any) -> None:
        super().__init__(f, *args, **kw)
        self._error_time: float = 0
        self._interval: float = 1

    def start(
        self,
        initial_delay: float | None = None,
        starting_interval: float = 1,
        timeout: float = 300,
        max_interval: float = 300,
        jitter: float = 0.75,
        min_interval: float = 0.001,
    ) -> LoopingCallResult:
        """Start calling; ``timeout`` 0 backs off for ever."""
        for name, value in (
            ("starting_interval", starting_interval),
            ("timeout", timeout),
            ("max_interval", max_interval),
            ("jitter", jitter),
            ("min_interval", min_interval),
        ):
            _check_seconds(name, value)
        if self._thread is not None:
            raise RuntimeError(self._RUN_ONLY_ONE_MESSAGE)
        self._error_time = 0
        self._interval = starting_interval

        def idle_for(success: Any, elapsed: float) -> float:
            random_jitter = abs(self._RNG.gauss(jitter, 0.1))
            if success:
                self._interval = starting_interval
                self._error_time = 0
                return self._interval * random_jitter
            idle = max(self._interval * 2 * random_jitter, min_interval)
            idle = min(idle, max_interval)
            # The next interval grows from the mean, so backoff grows at the set rate.
            self._interval = max(self._interval * 2 * jitter, min_interval)
            if timeout > 0 and self._error_time + idle > timeout:
                raise LoopingCallTimeOut(
                    f"Looping call timed out after {self._error_time + idle:.02f} seconds"
                )
            self._error_time += idle
            return idle

        return self._start(idle_for, initial_delay=initial_delay)


# RetryDecorator lives in _threads (for size) and waits on DynamicLoopingCall: handed in here.
RetryDecorator.looping_call_class = DynamicLoopingCall
