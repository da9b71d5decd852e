"""``loopingcall.RetryDecorator``: retry a function on the exceptions it names.

Each retry waits on a ``DynamicLoopingCall``, so ``stop()`` semantics and the
SleepFixture apply to its waits as to any looping call.
"""

from __future__ import annotations

from collections.abc import Callable
import functools
import logging
from typing import Any
from typing import ClassVar

from oslo_threading_backend._threads.arg_checks import callable_name as _callable_name
from oslo_threading_backend._threads.arg_checks import check_callable as _check_callable
from oslo_threading_backend._threads.arg_checks import check_seconds as _check_seconds
from oslo_threading_backend._threads.looping_call_result import LoopingCallDone

LOG = logging.getLogger("oslo_threading_backend.loopingcall")


class RetryDecorator:
    """Retries the decorated function when it raises one of ``exceptions``.

    The wait grows by ``inc_sleep_time`` per retry, capped at
    ``max_sleep_time``; ``max_retry_count`` -1 retries for ever. Each call of
    the decorated function counts its own retries (oslo.service shares one
    counter between all calls and threads); ``_retry_count`` and
    ``_sleep_time`` show the latest call's, for oslo.service's tests.
    """

    #: The looping call each retry waits on: ``loopingcall.DynamicLoopingCall``,
    #: handed in by ``loopingcall`` once it is defined (this module does not
    #: import its public user back).
    looping_call_class: ClassVar[type[Any]]

    def __init__(
        self,
        max_retry_count: int = -1,
        inc_sleep_time: float = 10,
        max_sleep_time: float = 60,
        exceptions: type[BaseException] | tuple[type[BaseException], ...] = (),
    ) -> None:
        if not isinstance(max_retry_count, int) or isinstance(max_retry_count, bool):
            raise TypeError(
                "max_retry_count must be an int >= -1 (-1: retry for ever), not"
                f" {type(max_retry_count).__name__} ({max_retry_count!r})"
            )
        if max_retry_count < -1:
            raise ValueError(
                f"max_retry_count must be >= -1 (-1: retry for ever), not {max_retry_count!r}"
            )
        _check_seconds("inc_sleep_time", inc_sleep_time)
        _check_seconds("max_sleep_time", max_sleep_time)
        classes = exceptions if isinstance(exceptions, tuple) else (exceptions,)
        for cls in classes:
            if not (isinstance(cls, type) and issubclass(cls, BaseException)):
                raise TypeError(
                    f"exceptions must be an exception class or a tuple of them, not {exceptions!r}"
                )
        self._max_retry_count = max_retry_count
        self._inc_sleep_time = inc_sleep_time
        self._max_sleep_time = max_sleep_time
        self._exceptions = classes
        self._retry_count = 0
        self._sleep_time: float = 0

    def __call__(self, f: Callable[..., Any]) -> Callable[..., Any]:
        _check_callable("f", f)
        func_name = _callable_name(f)

        @functools.wraps(f)
        def func(*args: Any, **kwargs: Any) -> Any:
            state = {"retry_count": 0, "sleep_time": 0}
            self._retry_count = 0
            self._sleep_time = 0

            def attempt() -> float:
                if state["retry_count"]:
                    LOG.debug(
                        "Invoking %(func_name)s; retry count is %(retry_count)d.",
                        {"func_name": func_name, "retry_count": state["retry_count"]},
                    )
                try:
                    result = f(*args, **kwargs)
                except self._exceptions:
                    LOG.debug(
                        "Exception which is in the suggested list of exceptions occurred"
                        " while invoking function: %s.",
                        func_name,
                    )
                    if (
                        self._max_retry_count != -1
                        and state["retry_count"] >= self._max_retry_count
                    ):
                        LOG.debug(
                            "Cannot retry %(func_name)s upon suggested exception since retry"
                            " count (%(retry_count)d) reached max retry count"
                            " (%(max_retry_count)d).",
                            {
                                "func_name": func_name,
                                "retry_count": state["retry_count"],
                                "max_retry_count": self._max_retry_count,
                            },
                        )
                        raise
                    state["retry_count"] += 1
                    state["sleep_time"] += self._inc_sleep_time
                    self._retry_count = state["retry_count"]
                    self._sleep_time = state["sleep_time"]
                    return state["sleep_time"]
                raise LoopingCallDone(result)

            # Logs and the loop thread's name show the user's function, not "attempt".
            functools.update_wrapper(
                attempt, f, assigned=("__module__", "__name__", "__qualname__"), updated=()
            )
            loop = RetryDecorator.looping_call_class(attempt)
            result = loop.start(periodic_interval_max=self._max_sleep_time)
            LOG.debug("Waiting for function %s to return.", func_name)
            return result.wait()

        return func


RetryDecorator.__module__ = "oslo_threading_backend.loopingcall"
