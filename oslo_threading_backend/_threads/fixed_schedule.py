"""The waits of ``loopingcall``'s fixed interval calls: a grid that does not drift.

Kept apart from the loop, which only asks its schedule how long to wait; the
warnings are logged as ``oslo_threading_backend.loopingcall``'s.
"""

from __future__ import annotations

from collections.abc import Callable
import logging
import math
from typing import Any

from oslo_threading_backend._threads.arg_checks import callable_name as _callable_name
from oslo_threading_backend._threads.looping_call_result import LoopingCallTimeOut

LOG = logging.getLogger("oslo_threading_backend.loopingcall")

#: A wait that returns this much before its deadline was not a real wait (a
#: patched ``_sleep``, e.g. SleepFixture): the fixed schedule re-anchors on it.
EARLY_WAKE_TOLERANCE = 0.01


class FixedSchedule:
    """Waits that keep runs on the grid ``start + k * interval``: no drift.

    A run that ends past its slot is logged and the missed slots are skipped
    (the next run is at the next slot of the grid), never replayed in a burst.
    With ``timeout`` > 0 the call ends with LoopingCallTimeOut once a run ends
    more than ``timeout`` seconds after the schedule was made. ``now`` is the
    loop's clock, called at each wait (tests drive it with a fake one).
    """

    def __init__(
        self, func: Any, interval: float, now: Callable[[], float], timeout: float = 0
    ) -> None:
        self._func = func
        self._interval = interval
        self._now = now
        self._timeout = timeout
        self._start_time = now() if timeout > 0 else 0.0
        self._deadline: float | None = None

    def __call__(self, result: Any, elapsed: float) -> float:
        idle = self._next_wait(elapsed)
        if self._timeout > 0:
            elapsed_time = self._now() - self._start_time
            if elapsed_time > self._timeout:
                raise LoopingCallTimeOut(
                    f"Looping call timed out after {elapsed_time:.02f} seconds"
                )
        return idle

    def _next_wait(self, elapsed: float) -> float:
        now = self._now()
        run_start = now - elapsed
        tolerance = min(EARLY_WAKE_TOLERANCE, self._interval / 2)
        if self._deadline is None or run_start < self._deadline - tolerance:
            # First run, or the wait returned early (a patched _sleep): re-anchor.
            anchor = run_start
        else:
            anchor = self._deadline
        interval = self._interval
        deadline = anchor + interval
        late = now - deadline
        if late > 0:
            if interval > 0:
                if round(late, 2) > 0:
                    LOG.warning(
                        "Function %(func_name)r run outlasted interval by %(delay).2f sec",
                        {"func_name": _callable_name(self._func), "delay": late},
                    )
                deadline += math.ceil(late / interval) * interval
            else:
                deadline = now
        self._deadline = deadline
        timeout = deadline - now
        # Rounded like oslo.service (SleepFixture users compare these values);
        # a short wait is not rounded to zero, so tiny intervals do not spin.
        rounded = round(timeout, 2)
        return rounded if rounded > 0 else max(timeout, 0.0)
