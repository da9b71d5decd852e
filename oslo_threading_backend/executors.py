"""Named per-process executors: one bounded pool per kind of work.

One pool per tier avoids the deadlock of a task waiting on subtasks queued behind it
in the same bounded pool. Pools are created lazily, dropped in a forked child (its
parent's threads do not exist there) and shut down once when the service stops.

Use ``spawn``/``spawn_on`` rather than ``get_executor(name).submit`` when the request
context (oslo.context) should follow the task into the pool thread.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent import futures
import functools
import logging
import os
import sys
import threading
import time
from typing import Any
from typing import NamedTuple

from oslo_config import cfg

from oslo_threading_backend import pool_statistics
from oslo_threading_backend._openstack import opt_registration as _opt_registration
from oslo_threading_backend._openstack import request_context as _request_context
from oslo_threading_backend._threads import pool as _thread_pool

LOG = logging.getLogger(__name__)

DEFAULT = "default"
SCATTER_GATHER = "scatter_gather"

executor_opts = [
    cfg.IntOpt(
        "default_thread_pool_size",
        default=10,
        min=1,
        help="Maximum number of threads of the 'default' executor of each process, "
        "used by spawn(). Threads are started on demand and exit when idle.",
    ),
    cfg.IntOpt(
        "scatter_gather_thread_pool_size",
        default=5,
        min=1,
        help="Maximum number of threads of the 'scatter_gather' executor of each "
        "process, used by scatter_gather().",
    ),
    cfg.DictOpt(
        "thread_pool_sizes",
        default={},
        help="Maximum number of threads of other named executors, as "
        "name:size pairs (for example periodic_tasks:4). Executors not listed "
        "get default_thread_pool_size. 'default' and 'scatter_gather' are "
        "sized by their own options.",
    ),
    cfg.FloatOpt(
        "thread_pool_idle_timeout",
        default=_thread_pool.DEFAULT_IDLE_TIMEOUT,
        min=0.01,
        help="Seconds a pool thread waits for work before it exits, so the number "
        "of threads (and memory) follows the load rather than its peak. Applies to "
        "this package's pools and, with futurist_threads_on_demand, to futurist's "
        "(oslo.messaging's executor, the application's own pools).",
    ),
    cfg.IntOpt(
        "thread_pool_statistic_period",
        default=-1,
        min=-1,
        help="How often, in seconds, each executor logs its state (at DEBUG) when "
        "a task is submitted: -1 never, 0 on every submit, N at most once every "
        "N seconds.",
    ),
    cfg.IntOpt(
        "thread_pool_full_warning_period",
        default=60,
        min=-1,
        help="How often, in seconds, each executor may log the WARNING that a task "
        "is queued because every thread is busy: 0 on every such task (as nova's "
        "spawn_on), N at most once every N seconds with the number of tasks queued "
        "since the previous warning, -1 never. A saturated pool logs a line per "
        "task with 0.",
    ),
]


class _Entry(NamedTuple):
    executor: futures.Executor
    reporter: pool_statistics.StatisticsReporter


_conf: cfg.ConfigOpts | None = None
_registry_lock = threading.Lock()
_registry: dict[str, _Entry] = {}
_shut_down = False


def list_opts() -> list[tuple[str | None, list[cfg.Opt]]]:
    """Entry point for oslo-config-generator."""
    return [(None, list(executor_opts))]


def register_opts(conf: cfg.ConfigOpts) -> None:
    """Register the executor options on ``conf``; safe to call more than once."""
    _opt_registration.register_missing(conf, executor_opts)


def set_conf(conf: cfg.ConfigOpts) -> None:
    """Read pool options from the service's conf; pools already created keep theirs."""
    if not isinstance(conf, cfg.ConfigOpts):
        raise TypeError(f"conf must be an oslo_config.cfg.ConfigOpts, got {conf!r}")
    global _conf
    register_opts(conf)
    _conf = conf


def _get_conf() -> cfg.ConfigOpts:
    global _conf
    if _conf is None:
        register_opts(cfg.CONF)
        _conf = cfg.CONF
    return _conf


def _pool_size(conf: cfg.ConfigOpts, name: str) -> int:
    if name == DEFAULT:
        return conf.default_thread_pool_size
    if name == SCATTER_GATHER:
        return conf.scatter_gather_thread_pool_size
    raw = conf.thread_pool_sizes.get(name)
    if raw is None:
        return conf.default_thread_pool_size
    try:
        size = int(raw)
    except ValueError:
        raise ValueError(
            f"thread_pool_sizes[{name}] must be an integer of at least 1, got {raw!r}"
        ) from None
    if size < 1:
        raise ValueError(f"thread_pool_sizes[{name}] must be at least 1, got {size}")
    return size


def _process_name() -> str:
    return os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "python"


def _is_eventlet_backend() -> bool:
    # Imported lazily: the backend module may not exist yet, and this module must not
    # import it at import time (the backend is chosen before anything touches it).
    try:
        from oslo_threading_backend import backend
    except ImportError:
        return False
    backend_type = backend.get_backend_type()
    return backend_type is not None and backend_type == backend.BackendType.EVENTLET


def _create_executor(name: str, size: int, idle_timeout: float) -> futures.Executor:
    if _is_eventlet_backend():
        import futurist

        return futurist.GreenThreadPoolExecutor(max_workers=size)
    return _thread_pool.ThreadPoolExecutor(
        max_workers=size, name=f"{_process_name()}.{name}", idle_timeout=idle_timeout
    )


def _check_name(name: Any) -> None:
    if not isinstance(name, str) or not name:
        raise TypeError(f"executor name must be a non-empty string, got {name!r}")


def _shut_down_error(name: str) -> RuntimeError:
    return RuntimeError(
        f"cannot use executor {name!r}: executors.shutdown_all() was called when the "
        "service stopped (tests can re-enable them with executors.reset_all())"
    )


def _get_entry(name: str) -> _Entry:
    entry = _registry.get(name)
    if entry is not None and not _shut_down:
        return entry
    _check_name(name)
    with _registry_lock:
        if _shut_down:
            raise _shut_down_error(name)
        entry = _registry.get(name)
        if entry is None:
            conf = _get_conf()
            executor = _create_executor(
                name, _pool_size(conf, name), conf.thread_pool_idle_timeout
            )
            full_name = getattr(executor, "name", f"{_process_name()}.{name}")
            reporter = pool_statistics.StatisticsReporter(
                full_name,
                conf.thread_pool_statistic_period,
                full_warning_period=conf.thread_pool_full_warning_period,
            )
            entry = _registry[name] = _Entry(executor, reporter)
            LOG.debug(
                "Created executor %s with at most %d threads",
                full_name,
                getattr(executor, "_max_workers", 0),
            )
        return entry


def snapshot() -> list[tuple[str, futures.Executor]]:
    """(full name, executor) of every pool created so far, for reports and statistics."""
    with _registry_lock:
        entries = list(_registry.values())
    return [(entry.reporter.name, entry.executor) for entry in entries]


def get_executor(name: str = DEFAULT) -> futures.Executor:
    """The process's executor called ``name``, created on first use.

    Raises RuntimeError after shutdown_all().
    """
    return _get_entry(name).executor


def _with_request_context(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Carry the submitter's oslo.context into the pool thread, so logs keep the id."""
    ctx = _request_context.current()
    if ctx is None:
        return fn

    @functools.wraps(fn)
    def run_in_context(*args: Any, **kwargs: Any) -> Any:
        previous = _request_context.current()
        ctx.update_store()
        try:
            return fn(*args, **kwargs)
        finally:
            # Pool threads are reused: do not leak this request into the next task.
            if previous is not None:
                previous.update_store()
            else:
                _request_context.forget()

    return run_in_context


def spawn_on(
    executor: str | futures.Executor, fn: Callable[..., Any], *args: Any, **kwargs: Any
) -> futures.Future:
    """Run ``fn(*args, **kwargs)`` on a named executor (or an executor object).

    The request context current here is restored in the pool thread. Raises
    RuntimeError after shutdown_all(), TypeError if ``fn`` is not callable.
    """
    pool, reporter, run = _prepare_submit(executor, fn)
    if reporter is not None:
        reporter.before_submit(pool, fn)
    return pool.submit(run, *args, **kwargs)


def _prepare_submit(
    executor: str | futures.Executor, fn: Callable[..., Any]
) -> tuple[futures.Executor, pool_statistics.StatisticsReporter | None, Callable[..., Any]]:
    """spawn_on()'s checks and lookups, once for many submits of ``fn`` (scatter_gather).

    Returns the pool, its statistics reporter (None for an executor object) and
    what to submit: ``fn``, or ``fn`` in the request context current here.
    """
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {fn!r}")
    if isinstance(executor, str):
        entry = _get_entry(executor)
        return entry.executor, entry.reporter, _with_request_context(fn)
    if isinstance(executor, futures.Executor):
        return executor, None, _with_request_context(fn)
    raise TypeError(
        f"executor must be an executor name or a concurrent.futures.Executor, got {executor!r}"
    )


def spawn(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> futures.Future:
    """Run ``fn(*args, **kwargs)`` on the 'default' executor."""
    return spawn_on(DEFAULT, fn, *args, **kwargs)


def _take_all() -> dict[str, _Entry]:
    global _registry
    with _registry_lock:
        taken, _registry = _registry, {}
    return taken


def reset_all() -> None:
    """Shut down every executor, waiting for its work, and re-enable creation.

    For tests, and for a process about to fork that wants its pools quiet first.
    """
    global _shut_down
    taken = _take_all()
    # Stop them all first, then wait: pools stop in parallel, not one after another.
    for entry in taken.values():
        if hasattr(entry.executor, "join"):
            entry.executor.shutdown(wait=False)
    for entry in taken.values():
        join = getattr(entry.executor, "join", None)
        if join is None:
            entry.executor.shutdown(wait=True)  # futurist's green pool
        else:
            join()
    with _registry_lock:
        _shut_down = False


def shutdown_all(timeout: float | None = None) -> bool:
    """Stop every executor at service stop; later use raises RuntimeError.

    Each pool logs its final state first (workers == idle workers means nothing was
    still running). Queued work still runs. Waits up to ``timeout`` seconds in total
    (None: without limit) for the threads; returns False if some are still running,
    they are never killed.
    """
    if timeout is not None:
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
            raise TypeError(f"timeout must be a number of seconds or None, got {timeout!r}")
        if timeout < 0:
            raise ValueError(f"timeout must not be negative, got {timeout!r}")
    global _shut_down
    with _registry_lock:
        _shut_down = True
    taken = _take_all()
    for entry in taken.values():
        entry.reporter.log_final_state(entry.executor)
        if hasattr(entry.executor, "join"):
            # Stop them all first, then wait: pools stop in parallel.
            entry.executor.shutdown(wait=False)
    deadline = None if timeout is None else time.monotonic() + timeout
    all_stopped = True
    for name, entry in taken.items():
        remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
        join = getattr(entry.executor, "join", None)
        if join is None:
            # futurist's green pool waits only in the call that shuts it down.
            entry.executor.shutdown(wait=True)
        elif not join(remaining):
            all_stopped = False
            LOG.warning(
                "Executor %s still has running threads after shutdown; they are left to finish",
                entry.reporter.name or name,
            )
    return all_stopped


def _after_fork_in_child() -> None:
    # The parent's pool threads do not exist in the child, and a lock a parent thread
    # held at fork time stays held forever: abandon the pools without touching them.
    global _registry_lock, _registry, _shut_down
    _registry_lock = threading.Lock()
    _registry = {}
    _shut_down = False


os.register_at_fork(after_in_child=_after_fork_in_child)
