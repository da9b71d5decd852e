"""Pool state logging: rate-limited statistics and the "no free threads" warning.

Operators size pools from these lines: a pool that keeps queueing is too small or has
stuck threads, and the final state at shutdown shows whether every thread came back.
"""

from __future__ import annotations

from concurrent import futures
import functools
import logging
import threading
import time
from typing import Any
from typing import NamedTuple

from oslo_threading_backend._threads import hung_tasks as _hung_tasks
from oslo_threading_backend._threads.arg_checks import callable_name as _callable_name

LOG = logging.getLogger(__name__)

_STATE_MSG = (
    "State of %s ThreadPoolExecutor %s: max_workers: %d, workers: %d, "
    "idle workers: %d, queued work: %d, stats: %s, stuck threads: %d"
)
_NO_FREE_THREADS_MSG = (
    "The %s pool does not have free threads so the task %s will be queued. If this "
    "happens repeatedly then the size of the pool is too small for the load or there "
    "are stuck threads filling the pool."
)
# Appended to the warning above when earlier ones were held back by the period.
_HELD_BACK_MSG = (
    " %d more tasks were queued for lack of a free thread in the %.0f s since the "
    "previous warning."
)
_HELD_BACK_AT_SHUTDOWN_MSG = (
    "The %s pool queued %d more tasks for lack of a free thread in the %.0f s after "
    "its last warning."
)


class PoolState(NamedTuple):
    max_workers: int
    workers: int
    idle_workers: int
    queued: int
    stats: str
    #: Threads running a task reported stuck ([DEFAULT] hung_task_threshold) now.
    stuck: int = 0


def format_stats(stats: Any) -> str:
    """futurist.ExecutorStatistics as text, with an average that is 0 before any run.

    futurist's ``average_runtime`` raises ZeroDivisionError while nothing was executed.
    """
    if stats is None:
        return "n/a"
    executed = stats.executed
    average = stats.runtime / executed if executed else 0.0
    return (
        f"executed={executed}, failures={stats.failures}, "
        f"cancelled={stats.cancelled}, runtime={stats.runtime:.2f}s, "
        f"average_runtime={average:.4f}s"
    )


def pool_state(executor: futures.Executor) -> PoolState:
    """Read the counters of our pool, or of futurist's green pool, as best known."""
    max_workers = getattr(executor, "_max_workers", 0)
    if hasattr(executor, "num_workers"):
        workers = executor.num_workers
        idle = executor.get_num_idle_workers()
        queued = executor.queue_size
    else:  # futurist.GreenThreadPoolExecutor: a GreenPool and a delayed-work queue
        pool = getattr(executor, "_pool", None)
        workers = pool.running() if pool is not None else 0
        idle = 0
        delayed = getattr(executor, "_delayed_work", None)
        queued = delayed.qsize() if delayed is not None else 0
    stats = format_stats(getattr(executor, "statistics", None))
    return PoolState(max_workers, workers, idle, queued, stats, _hung_tasks.stuck_count(executor))


def log_state(name: str, executor: futures.Executor, when: str, level: int) -> PoolState:
    state = pool_state(executor)
    LOG.log(level, _STATE_MSG, name, when, *state)
    return state


def _check_period(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number of seconds, got {value!r}")
    if value < 0 and value != -1:
        raise ValueError(f"{name} must be -1 (off), 0 or positive, got {value!r}")
    return value


class StatisticsReporter:
    """Per-executor reporter called before each submit.

    ``period``: -1 never logs statistics, 0 logs on every submit, N logs at most once
    every N seconds.

    ``full_warning_period``: how often the "does not have free threads" WARNING may
    be logged: 0 on every task that has to queue (nova's ``spawn_on``), N at most
    once every N seconds, with the number of tasks held back since the previous
    one (a saturated pool would otherwise log a line per task, hundreds a
    second), -1 never.
    """

    def __init__(
        self,
        name: str,
        period: float,
        clock: Any = time.monotonic,
        *,
        full_warning_period: float = 0,
    ) -> None:
        self.name = name
        self.period = _check_period("period", period)
        self.full_warning_period = _check_period("full_warning_period", full_warning_period)
        self._clock = clock
        self._lock = threading.Lock()
        self._last_logged: float | None = None
        self._last_warned: float | None = None
        self._held_back = 0

    def before_submit(self, executor: futures.Executor, task: Any) -> None:
        """Called on every submit; ``task``: the function (named only for a line) or a name."""
        if self.period >= 0 and self._due():
            log_state(self.name, executor, "when submitting a new task", logging.DEBUG)
        if self.full_warning_period >= 0 and not _has_free_thread(executor):
            self._warn_queued(task)

    def _due(self) -> bool:
        if self.period == 0:
            return True
        now = self._clock()
        with self._lock:
            if self._last_logged is not None and now - self._last_logged < self.period:
                return False
            self._last_logged = now
            return True

    def _warn_queued(self, task: Any) -> None:
        now = self._clock()
        with self._lock:
            previous, held_back = self._last_warned, self._held_back
            if (
                self.full_warning_period
                and previous is not None
                and now - previous < self.full_warning_period
            ):
                self._held_back += 1
                return
            self._last_warned, self._held_back = now, 0
        if held_back:
            LOG.warning(
                _NO_FREE_THREADS_MSG + _HELD_BACK_MSG,
                self.name,
                _task_name(task),
                held_back,
                now - previous,
            )
        else:
            LOG.warning(_NO_FREE_THREADS_MSG, self.name, _task_name(task))

    def log_final_state(self, executor: futures.Executor) -> PoolState:
        """Logged at shutdown: workers == idle workers means nothing was left running.

        Tasks queued since the last "no free threads" warning are counted first.
        """
        with self._lock:
            previous, held_back = self._last_warned, self._held_back
            self._held_back = 0
        if held_back and previous is not None:
            LOG.warning(_HELD_BACK_AT_SHUTDOWN_MSG, self.name, held_back, self._clock() - previous)
        return log_state(self.name, executor, "at shutdown", logging.INFO)


def _task_name(task: Any) -> str:
    """How the lines name a task: a name as given, a function by its qualified name."""
    if isinstance(task, str):
        return task
    if isinstance(task, functools.partial):
        task = task.func
    # A callable object has no __qualname__: named as oslo.service names it, not by its repr.
    return getattr(task, "__qualname__", None) or _callable_name(task)


def _has_free_thread(executor: futures.Executor) -> bool:
    """True when a task submitted now would not wait: a thread is idle or can start."""
    has_free_thread = getattr(executor, "has_free_thread", None)
    if has_free_thread is not None:
        # Our pools answer without taking their lock on every submit.
        return has_free_thread()
    get_idle = getattr(executor, "get_num_idle_workers", None)
    if get_idle is None:
        return True
    return get_idle() > 0 or executor.num_workers < getattr(executor, "_max_workers", 0)
