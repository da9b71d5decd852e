"""Pool state logging: rate-limited statistics and the "no free threads" warning.

Operators size pools from these lines: a pool that keeps queueing is too small or has
stuck threads, and the final state at shutdown shows whether every thread came back.
"""

from __future__ import annotations

from concurrent import futures
import logging
import threading
import time
from typing import Any
from typing import NamedTuple

LOG = logging.getLogger(__name__)

_STATE_MSG = (
    "State of %s ThreadPoolExecutor %s: max_workers: %d, workers: %d, "
    "idle workers: %d, queued work: %d, stats: %s"
)
_NO_FREE_THREADS_MSG = (
    "The %s pool does not have free threads so the task %s will be queued. If this "
    "happens repeatedly then the size of the pool is too small for the load or there "
    "are stuck threads filling the pool."
)


class PoolState(NamedTuple):
    max_workers: int
    workers: int
    idle_workers: int
    queued: int
    stats: str


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
    return PoolState(max_workers, workers, idle, queued, stats)


def log_state(name: str, executor: futures.Executor, when: str, level: int) -> PoolState:
    state = pool_state(executor)
    LOG.log(level, _STATE_MSG, name, when, *state)
    return state


class StatisticsReporter:
    """Per-executor reporter called before each submit.

    ``period``: -1 never logs statistics, 0 logs on every submit, N logs at most once
    every N seconds.
    """

    def __init__(self, name: str, period: float, clock: Any = time.monotonic) -> None:
        if isinstance(period, bool) or not isinstance(period, (int, float)):
            raise TypeError(f"period must be a number of seconds, got {period!r}")
        if period < 0 and period != -1:
            raise ValueError(f"period must be -1 (off), 0 or positive, got {period!r}")
        self.name = name
        self.period = period
        self._clock = clock
        self._lock = threading.Lock()
        self._last_logged: float | None = None

    def before_submit(self, executor: futures.Executor, task: Any) -> None:
        if self.period >= 0 and self._due():
            log_state(self.name, executor, "when submitting a new task", logging.DEBUG)
        self._warn_if_no_free_thread(executor, task)

    def _due(self) -> bool:
        if self.period == 0:
            return True
        now = self._clock()
        with self._lock:
            if self._last_logged is not None and now - self._last_logged < self.period:
                return False
            self._last_logged = now
            return True

    def _warn_if_no_free_thread(self, executor: futures.Executor, task: Any) -> None:
        has_free_thread = getattr(executor, "has_free_thread", None)
        if has_free_thread is not None:
            # Our pools answer without taking their lock on every submit.
            if not has_free_thread():
                LOG.warning(_NO_FREE_THREADS_MSG, self.name, task)
            return
        get_idle = getattr(executor, "get_num_idle_workers", None)
        if get_idle is None:
            return
        if get_idle() == 0 and executor.num_workers >= getattr(executor, "_max_workers", 0):
            LOG.warning(_NO_FREE_THREADS_MSG, self.name, task)

    def log_final_state(self, executor: futures.Executor) -> PoolState:
        """Logged at shutdown: workers == idle workers means nothing was left running."""
        return log_state(self.name, executor, "at shutdown", logging.INFO)
