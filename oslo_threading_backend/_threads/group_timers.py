"""The ways a ThreadGroup adds timers, as oslo.service names them.

``ThreadGroup`` inherits these: each builds a looping call and hands it to the
group's ``_add_timer(timer, start)``, which owns the group's state and lock.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from typing import TypeVar
import warnings

from oslo_threading_backend import loopingcall
from oslo_threading_backend._threads.arg_checks import check_callable as _check_callable

_Timer = TypeVar("_Timer", bound=loopingcall.LoopingCallBase)


class GroupTimers:
    """``add_timer*`` and ``add_dynamic_timer*`` of ``threadgroup.ThreadGroup``."""

    # ThreadGroup's: it adds the timer to the group, under the group's lock.
    _add_timer: Callable[
        [loopingcall.LoopingCallBase, Callable[[], loopingcall.LoopingCallResult]], None
    ]

    def _start_timer(
        self,
        kind: type[_Timer],
        callback: Callable[..., Any],
        args: list[Any] | tuple[Any, ...] | None,
        kwargs: dict[str, Any] | None,
        **start_args: Any,
    ) -> _Timer:
        """A ``kind`` looping call of ``callback``, added to the group and started."""
        args, kwargs = _check_args(args, kwargs)
        _check_callable("callback", callback)
        timer = kind(callback, *args, **kwargs)
        self._add_timer(timer, lambda: timer.start(**start_args))
        return timer

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
        return self._start_timer(
            loopingcall.FixedIntervalLoopingCall,
            callback,
            args,
            kwargs,
            interval=interval,
            initial_delay=initial_delay,
            stop_on_exception=stop_on_exception,
        )

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
        return self._start_timer(
            loopingcall.DynamicLoopingCall,
            callback,
            args,
            kwargs,
            initial_delay=initial_delay,
            periodic_interval_max=periodic_interval_max,
            stop_on_exception=stop_on_exception,
        )

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
