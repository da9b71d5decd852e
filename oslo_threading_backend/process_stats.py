"""A periodic log line per process: memory, threads and the named executors' state.

On native threads memory grows with threads, and a thread that is stuck or lost
shows only as a pool that no longer has idle workers. One line per period from each
worker (and the master if it wants) puts both in the logs, where they can be
compared across workers and over time without attaching a debugger.
"""

from __future__ import annotations

import logging
import math
import os
import sys
import threading
from typing import NamedTuple

from oslo_config import cfg

from oslo_threading_backend import executors
from oslo_threading_backend import pool_statistics
from oslo_threading_backend._openstack import opt_registration as _opt_registration
from oslo_threading_backend._threads import hung_tasks as _hung_tasks
from oslo_threading_backend._threads import ticker as _ticker

LOG = logging.getLogger(__name__)

OPTION = "process_statistic_period"
DISABLED = -1

process_stats_opts = [
    cfg.FloatOpt(
        OPTION,
        default=60.0,
        min=-1,
        help="How often, in seconds, each worker process logs (at INFO) its memory "
        "(RSS and peak RSS), thread counts and the state of its named executors. "
        "-1 disables it, like thread_pool_statistic_period; other values must be "
        "positive.",
    ),
]


class ExecutorStats(NamedTuple):
    name: str
    max_workers: int
    workers: int
    idle_workers: int
    queued: int
    stuck: int = 0


class ProcessStats(NamedTuple):
    """One process's numbers at one moment; None where the platform cannot tell."""

    pid: int
    rss_bytes: int | None
    peak_rss_bytes: int | None
    python_threads: int
    os_threads: int | None
    executors: tuple[ExecutorStats, ...]
    #: Threads of any pool, group or loop running a task reported stuck now.
    stuck_threads: int = 0


def list_opts() -> list[tuple[str | None, list[cfg.Opt]]]:
    """Entry point for oslo-config-generator."""
    return [(None, list(process_stats_opts))]


def register_opts(conf: cfg.ConfigOpts) -> None:
    """Register the statistics option on ``conf``; safe to call more than once."""
    _opt_registration.register_missing(conf, process_stats_opts)


def _read_proc_status(path: str = "/proc/self/status") -> dict[str, str]:
    try:
        with open(path, encoding="ascii", errors="replace") as status:
            text = status.read()
    except OSError:
        return {}
    fields = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields[key] = value.strip()
    return fields


def _kib_field(fields: dict[str, str], key: str) -> int | None:
    # "VmRSS:\t   51200 kB"
    parts = fields.get(key, "").split()
    if len(parts) == 2 and parts[1] == "kB" and parts[0].isdigit():
        return int(parts[0]) * 1024
    return None


def _int_field(fields: dict[str, str], key: str) -> int | None:
    value = fields.get(key, "")
    return int(value) if value.isdigit() else None


def _peak_rss_from_rusage() -> int | None:
    try:
        import resource
    except ImportError:
        return None
    try:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    except (OSError, ValueError):
        return None
    # Kilobytes on Linux and the BSDs, bytes on macOS.
    return peak if sys.platform == "darwin" else peak * 1024


def _executor_stats() -> tuple[ExecutorStats, ...]:
    result = []
    for name, executor in executors.snapshot():
        try:
            state = pool_statistics.pool_state(executor)
        except Exception:
            LOG.debug("Could not read the state of executor %s", name, exc_info=True)
            continue
        result.append(
            ExecutorStats(
                name,
                state.max_workers,
                state.workers,
                state.idle_workers,
                state.queued,
                state.stuck,
            )
        )
    return tuple(sorted(result))


def collect() -> ProcessStats:
    """This process's statistics now. Never raises: unknown values are None.

    Memory and the OS thread count come from /proc/self/status (Linux); without
    /proc the peak RSS comes from getrusage() and the rest is None.
    """
    fields = _read_proc_status()
    peak = _kib_field(fields, "VmHWM")
    if peak is None:
        peak = _peak_rss_from_rusage()
    return ProcessStats(
        pid=os.getpid(),
        rss_bytes=_kib_field(fields, "VmRSS"),
        peak_rss_bytes=peak,
        python_threads=threading.active_count(),
        os_threads=_int_field(fields, "Threads"),
        executors=_executor_stats(),
        stuck_threads=_hung_tasks.stuck_count(),
    )


def _mib(value: int | None) -> str:
    return "n/a" if value is None else f"{value / (1024 * 1024):.1f} MiB"


def format_stats(stats: ProcessStats) -> str:
    """One log line; a Python thread count below the OS count means threads Python
    does not know about (C extensions), a growing one means threads are leaking."""
    if not isinstance(stats, ProcessStats):
        raise TypeError(f"stats must be a ProcessStats from collect(), got {stats!r}")
    os_threads = "n/a" if stats.os_threads is None else str(stats.os_threads)
    pools = (
        "; ".join(
            f"{e.name} (max_workers {e.max_workers}, workers {e.workers}, "
            f"idle workers {e.idle_workers}, queued {e.queued}, stuck {e.stuck})"
            for e in stats.executors
        )
        or "none"
    )
    return (
        f"Process statistics of pid {stats.pid}: RSS {_mib(stats.rss_bytes)}, "
        f"peak RSS {_mib(stats.peak_rss_bytes)}, threads {stats.python_threads} "
        f"(OS threads {os_threads}), stuck threads {stats.stuck_threads}, executors: {pools}"
    )


def _check_period(period: object) -> float:
    if isinstance(period, bool) or not isinstance(period, (int, float)):
        raise TypeError(f"{OPTION} must be a number of seconds, got {period!r}")
    if period != DISABLED and not (period > 0 and math.isfinite(period)):
        raise ValueError(
            f"{OPTION} must be -1 (off) or a positive number of seconds, got {period!r}"
        )
    return float(period)


class Reporter(_ticker.Ticker):
    """Logs ``format_stats(collect())`` at INFO every ``period`` seconds until ``stop()``.

    The thread, named "process-stats", is a daemon and exists only in the process
    that started it: a forked worker must start its own.
    """

    def __init__(self, period: float) -> None:
        period = _check_period(period)
        if period == DISABLED:
            raise ValueError(f"{OPTION} = -1 means off: do not create a Reporter")
        super().__init__(period, name="process-stats")

    def tick(self) -> None:
        try:
            LOG.info("%s", format_stats(collect()))
        except Exception:
            LOG.exception("Process statistics failed")


def start(conf: cfg.ConfigOpts) -> Reporter | None:
    """Start this process's reporter from ``conf.process_statistic_period``.

    Returns the running Reporter (``.stop()`` it at shutdown), or None when the
    period is -1. Raises ValueError for a period that is neither -1 nor positive.
    """
    if not isinstance(conf, cfg.ConfigOpts):
        raise TypeError(f"conf must be an oslo_config.cfg.ConfigOpts, got {conf!r}")
    register_opts(conf)
    period = _check_period(getattr(conf, OPTION))
    if period == DISABLED:
        return None
    reporter = Reporter(period)
    reporter.start()
    LOG.debug("Logging process statistics every %s s in pid %d", period, os.getpid())
    return reporter
