"""Checks of the arguments looping calls and thread groups take, and how they name functions.

Bad input fails at the call that passed it, with the argument's name and what
is allowed, never later in a thread.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

from oslo_utils import reflection as _reflection


def is_number(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_seconds(name: str, value: Any, *, allow_none: bool = False) -> Any:
    """Reject what cannot be a duration, naming the argument: errors at the call, not later."""
    if value is None and allow_none:
        return None
    if not is_number(value):
        allowed = "a number of seconds >= 0" + (" or None" if allow_none else "")
        raise TypeError(f"{name} must be {allowed}, not {type(value).__name__} ({value!r})")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number of seconds >= 0, not {value!r}")
    return value


def check_callable(name: str, value: Any) -> None:
    if not callable(value):
        raise TypeError(f"{name} must be callable, not {type(value).__name__} ({value!r})")


def callable_name(func: Any) -> str:
    """``func``'s name as oslo.service logs it: ``oslo_utils.reflection.get_callable_name()``.

    Log lines and thread names read the same on both backends (alerting matches
    them): a callable object is ``'pkg.Class'``, not its repr with an address.
    """
    try:
        return _reflection.get_callable_name(func)
    except Exception:  # an object whose attributes raise: still a name, never an error
        return repr(func)
