"""How a looping call ends: the exceptions that end it and the result ``start()`` returns.

The classes are ``oslo_threading_backend.loopingcall``'s public ones (their
``__module__`` says so, for tracebacks and pickling); they live here so that
``RetryDecorator`` can use them without importing the loop.
"""

from __future__ import annotations

from collections.abc import Callable
import logging
import threading
from typing import Any

from oslo_threading_backend._openstack import oslo_service_classes as _oslo_service_classes
from oslo_threading_backend._threads.arg_checks import check_seconds as _check_seconds

LOG = logging.getLogger("oslo_threading_backend.loopingcall")


class LoopingCallDone(*_oslo_service_classes.base("LoopingCallDone"), Exception):
    """Raised by the looped function to end the call normally.

    Its ``retvalue`` is what ``wait()`` returns, much as StopIteration ends a
    loop with a value.
    """

    def __init__(self, retvalue: Any = True) -> None:
        super().__init__(retvalue)
        self.retvalue = retvalue


# oslo.service's own LoopingCallDone (code written for it raises it) ends a
# call as ours does; ours is a subclass of it when oslo.service is installed.
DONE_EXCEPTIONS = (LoopingCallDone, *_oslo_service_classes.base("LoopingCallDone"))


class LoopingCallTimeOut(*_oslo_service_classes.base("LoopingCallTimeOut"), Exception):
    """The call ran past its ``timeout``; ``wait()`` raises it."""


class WaitTimeout(TimeoutError, RuntimeError):
    """``wait(timeout)`` gave up before the call or thread ended.

    A RuntimeError too, because oslo.service's threading backend raises
    RuntimeError there and callers may catch that.
    """


class LoopingCallResult:
    """What ``start()`` returns: ``wait()`` gives the call's value or raises its error.

    The value is the ``retvalue`` of LoopingCallDone, or True when the call was
    stopped; the error is the exception that ended the call.
    """

    def __init__(self) -> None:
        self._event = threading.Event()
        self._value: Any = None
        self._exception: BaseException | None = None
        self._callbacks: list[Callable[[], None]] = []
        self._lock = threading.Lock()
        #: The loop thread; wait() joins it, so no thread of the call is left after.
        self._runner: threading.Thread | None = None

    def ready(self) -> bool:
        """True once the call has ended."""
        return self._event.is_set()

    def wait(self, timeout: float | None = None) -> Any:
        """Block until the call ends; return its value or raise its exception.

        :raises WaitTimeout: if ``timeout`` seconds pass first.
        """
        _check_seconds("timeout", timeout, allow_none=True)
        if not self._event.wait(timeout):
            raise WaitTimeout(f"the looping call did not end within {timeout} seconds")
        runner = self._runner
        if runner is not None and runner is not threading.current_thread():
            runner.join()  # it is only returning: a moment at most
        if self._exception is not None:
            raise self._exception
        return self._value

    def _finish(self, value: Any, exception: BaseException | None) -> None:
        with self._lock:
            if self._event.is_set():
                return
            self._value = value
            self._exception = exception
            self._event.set()
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            try:
                callback()
            except Exception:
                LOG.exception("Error in a looping call's completion callback")

    def _add_done_callback(self, callback: Callable[[], None]) -> None:
        """Run ``callback()`` when the call ends (at once if it has ended)."""
        with self._lock:
            if not self._event.is_set():
                self._callbacks.append(callback)
                return
        callback()

    def _reinit_after_fork(self, lost: bool) -> None:
        # The parent's threads may have held these locks at fork: replace them.
        self._lock = threading.Lock()
        self._runner = None
        was_set = self._event.is_set()
        self._event = threading.Event()
        if lost and not was_set:
            self._exception = RuntimeError(
                "the looping call was running in the parent process and did not survive fork()"
            )
            self._callbacks = []
            was_set = True
        if was_set:
            self._event.set()


for _cls in (LoopingCallDone, LoopingCallTimeOut, WaitTimeout, LoopingCallResult):
    _cls.__module__ = "oslo_threading_backend.loopingcall"
del _cls
