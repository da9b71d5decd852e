"""futurist 3.5.0's fixes, applied by the launchers: fast shutdown (here), threads on demand.

Threads on demand (start a thread only when none is free, retire idle ones)
live in :mod:`.futurist_pool_growth`; this module applies both from the config
(:func:`apply_for`). The rest of this docstring is the fast shutdown.

Wake futurist's idle pool threads at shutdown.

``futurist.ThreadPoolExecutor``'s idle threads block in
``work_queue.get(True, ThreadWorker.MAX_IDLE_FOR)`` and look at ``should_stop``
only when that wait times out, so ``shutdown(wait=True)`` of a pool with idle
threads takes up to ``MAX_IDLE_FOR`` (1 s) per pool. Our own pools do not
(``_thread_pool``), but an application's own futurist pools and oslo.messaging's
``threading`` executor are futurist's: a nova-scheduler worker spent ~1 s per
pool at SIGTERM (2.87 s to gone, against 0.47 s under eventlet).

The fix wraps ``ThreadWorker.stop()``: once futurist has set ``should_stop``,
a no-op ``WorkItem`` goes on the worker's queue and wakes an idle thread at once.
The woken thread runs it and its loop sees that it is stopping and returns.
``shutdown(wait=True)`` still first waits for the queued work
(``work_queue.join()``), so that work still runs; nothing else in futurist is
changed. The launchers apply it (``[DEFAULT] futurist_fast_shutdown``, on by
default) when the threading backend is in use, in the master before it forks,
so the workers inherit it.

The queue is shared by every thread of the pool, so the wake can be taken by
another thread than the stopped one. That thread, if it is stopping too (a
whole pool shuts down), hands the wake on before it exits; otherwise (a
``DynamicThreadPoolExecutor`` shrinking) the no-op is harmless and the stopped
thread exits after its poll, as without the fix.
"""

from __future__ import annotations

from concurrent import futures
import functools
import importlib.metadata
import logging
import sys
import threading
from typing import Any
import weakref

from oslo_config import cfg

from oslo_threading_backend import backend
from oslo_threading_backend._openstack import opt_registration as _opt_registration
from oslo_threading_backend._upstream import after_import as _after_import
from oslo_threading_backend._upstream import applied_fixes as _applied_fixes
from oslo_threading_backend._upstream import futurist_hung_tasks as _futurist_hung_tasks
from oslo_threading_backend._upstream import futurist_pool_growth as _pool_growth

LOG = logging.getLogger(__name__)

OPTION = "futurist_fast_shutdown"
#: The fix's name in the one-line summary of the fixes applied (:mod:`.applied_fixes`).
NAME = "futurist fast shutdown"
ON_DEMAND_OPTION = "futurist_threads_on_demand"
ON_DEMAND_NAME = "futurist threads on demand"

futurist_fix_opts = [
    cfg.BoolOpt(
        OPTION,
        default=True,
        help="Wake the idle threads of futurist.ThreadPoolExecutor pools (the "
        "application's own and oslo.messaging's 'threading' executor) when the pool "
        "shuts down. futurist's idle threads only notice a shutdown when their 1 s "
        "poll (ThreadWorker.MAX_IDLE_FOR) ends, so each pool's shutdown(wait=True) "
        "took up to a second at SIGTERM. Queued work still runs before the pool "
        "stops. Applied by the launchers on the threading backend only; False "
        "leaves futurist as it is.",
    ),
    cfg.BoolOpt(
        ON_DEMAND_OPTION,
        default=True,
        help="futurist.ThreadPoolExecutor pools (the application's own and "
        "oslo.messaging's 'threading' executor) start a thread only when no idle "
        "thread can take the task, and a thread idle for thread_pool_idle_timeout "
        "seconds exits, as this package's own pools. futurist starts a thread on "
        "every submit until max_workers and never lets one go, so each pool holds "
        "its peak number of threads, and their memory, for good. Applied by the "
        "launchers on the threading backend only; False leaves futurist as it is.",
    ),
]

_lock = threading.Lock()
_installed: Any = None  # our wrapper of ThreadWorker.stop, while it is in place
# Whether the threads-on-demand line (with its idle timeout) was logged since it went in.
_on_demand_announced = False


def list_opts() -> list[tuple[str | None, list[cfg.Opt]]]:
    """Entry point for oslo-config-generator."""
    return [(None, list(futurist_fix_opts))]


def register_opts(conf: cfg.ConfigOpts) -> None:
    """Register the option on ``conf``; safe to call more than once."""
    _opt_registration.register_missing(conf, futurist_fix_opts)


@functools.cache
def _not_applied(why: str) -> None:
    LOG.warning("futurist ThreadPoolExecutor fast shutdown is not applied: %s", why)


def _futurist() -> tuple[Any, Any]:
    # The backend is settled before futurist is imported (futurist imports eventlet);
    # once futurist is imported (by the application: apply_at_import) that is moot.
    if "futurist._thread" in sys.modules and "futurist._utils" in sys.modules:
        return sys.modules["futurist._thread"], sys.modules["futurist._utils"]
    backend.settle_backend()
    from futurist import _thread
    from futurist import _utils

    return _thread, _utils


def _futurist_futures() -> Any:
    if "futurist._futures" in sys.modules:
        return sys.modules["futurist._futures"]
    backend.settle_backend()
    from futurist import _futures

    return _futures


def _missing(thread_mod: Any, utils_mod: Any) -> str | None:
    """What of futurist 3.5.0 the fix relies on is not there; None if all is."""
    worker_cls = getattr(thread_mod, "ThreadWorker", None)
    if worker_cls is None:
        return "futurist._thread.ThreadWorker"
    for name in ("stop", "_is_dying", "_wait_for_work", "MAX_IDLE_FOR"):
        if not hasattr(worker_cls, name):
            return f"futurist._thread.ThreadWorker.{name}"
    if not hasattr(utils_mod, "WorkItem"):
        return "futurist._utils.WorkItem"
    return None


def _futurist_version() -> str:
    try:
        return importlib.metadata.version("futurist")
    except importlib.metadata.PackageNotFoundError:
        return "(unknown version)"


class _Wake:
    """The no-op that wakes ``target``; hands itself on if another stopping thread ran it."""

    def __init__(self, target: threading.Thread) -> None:
        self._target = weakref.ref(target)

    def __call__(self) -> None:
        target = self._target()
        runner = threading.current_thread()
        if target is None or target is runner or not target.is_alive():
            return
        if not (getattr(target, "should_stop", False) and getattr(target, "idle", False)):
            return  # target is busy: it sees should_stop after its work item
        is_dying = getattr(runner, "_is_dying", None)
        if (is_dying is not None and is_dying()) or _pool_shutting_down(runner):
            # The runner exits after this item, or will be stopped next by the pool's
            # shutdown (which stops its threads one by one): hand on, or the target
            # waits its poll. A runner that goes on serving (a DynamicThreadPoolExecutor
            # shrinking) does not: it could take the wake again.
            _wake(target)


def _pool_shutting_down(runner: threading.Thread) -> bool:
    executor_ref = getattr(runner, "executor_ref", None)
    executor = executor_ref() if callable(executor_ref) else None
    return bool(getattr(executor, "_shutdown", False))


def _wake(worker: Any) -> None:
    """Put a no-op on ``worker``'s queue, unless its pool is already gone."""
    # A pool that was garbage-collected calls stop() from a weakref callback, which
    # may run in a collection on a thread holding this very queue's lock: put()
    # would deadlock. Its threads then stop after their poll, as in futurist.
    executor_ref = getattr(worker, "executor_ref", None)
    executor = executor_ref() if callable(executor_ref) else None
    work_queue = getattr(worker, "work_queue", None)
    if executor is None or work_queue is None:
        return
    _, utils_mod = _futurist()
    work_queue.put(utils_mod.WorkItem(futures.Future(), _Wake(worker)))
    del executor  # held until the item is queued: the pool cannot be collected meanwhile


def _wrap(original: Any) -> Any:
    @functools.wraps(original)
    def stop(self: Any) -> None:
        """futurist's ``ThreadWorker.stop()``, then a wake through the queue (our fix)."""
        original(self)
        _wake(self)

    return stop


def is_applied() -> bool:
    """Whether futurist's ``ThreadWorker.stop`` is our wrapper now."""
    if _installed is None:
        return False
    thread_mod, _ = _futurist()
    return thread_mod.ThreadWorker.__dict__.get("stop") is _installed


def apply() -> bool:
    """Wrap futurist's ``ThreadWorker.stop``; idempotent. False if futurist is not as known.

    Registers itself with :mod:`.applied_fixes` when the wrapper goes in (the
    details at DEBUG, the summary line is :func:`apply_for`'s); when futurist lacks what the
    fix relies on (another futurist version), logs one warning and changes nothing.
    """
    global _installed
    thread_mod, utils_mod = _futurist()
    with _lock:
        if is_applied():
            return True
        missing = _missing(thread_mod, utils_mod)
        if missing is not None:
            _not_applied(f"futurist {_futurist_version()} has no {missing}")
            return False
        worker_cls = thread_mod.ThreadWorker
        _installed = _wrap(worker_cls.stop)
        worker_cls.stop = _installed
    _applied_fixes.applied(
        NAME,
        f"futurist ThreadPoolExecutor's idle workers are woken at shutdown (futurist "
        f"{_futurist_version()} waits up to {worker_cls.MAX_IDLE_FOR:g} s per pool)",
        option=f"[DEFAULT] {OPTION}",
    )
    return True


def apply_threads_on_demand(idle_timeout: float | None, announce: bool = True) -> bool:
    """Start futurist's pool threads on demand, retire them after ``idle_timeout`` s idle.

    Idempotent (a second call updates the idle timeout; None: threads never
    retire). Registers itself with :mod:`.applied_fixes`, whose DEBUG line
    names the idle timeout, at the first call with ``announce`` true (the summary
    line is :func:`apply_for`'s): under ``oslo-threading-exec`` the fix goes in
    as futurist is imported, before the launcher has read the timeout. When
    futurist lacks what the fix relies on, logs one warning and changes nothing.
    """
    global _on_demand_announced
    thread_mod, _ = _futurist()
    futures_mod = _futurist_futures()
    with _lock:
        if not _pool_growth.is_applied(futures_mod, thread_mod):
            missing = _pool_growth.missing(futures_mod, thread_mod)
            if missing is not None:
                _not_applied_on_demand(f"futurist {_futurist_version()} has no {missing}")
                return False
        _pool_growth.install(futures_mod, thread_mod, idle_timeout)
        if _on_demand_announced or not announce:
            return True
        _on_demand_announced = True
    _applied_fixes.applied(
        ON_DEMAND_NAME,
        "futurist ThreadPoolExecutor starts a thread only when none is idle, and an idle "
        "thread exits after "
        + (
            "never"
            if idle_timeout is None
            else f"{idle_timeout:g} s ([DEFAULT] thread_pool_idle_timeout)"
        ),
        option=f"[DEFAULT] {ON_DEMAND_OPTION}",
    )
    return True


@functools.cache
def _not_applied_on_demand(why: str) -> None:
    LOG.warning("futurist ThreadPoolExecutor threads on demand are not applied: %s", why)


def threads_on_demand_applied() -> bool:
    thread_mod, _ = _futurist()
    return _pool_growth.is_applied(_futurist_futures(), thread_mod)


def _remove_threads_on_demand() -> None:
    global _on_demand_announced
    _on_demand_announced = False
    if "futurist" in sys.modules:
        thread_mod, _ = _futurist()
        _pool_growth.uninstall(_futurist_futures(), thread_mod)
    _applied_fixes.withdrawn(ON_DEMAND_NAME)


def remove() -> None:
    """Put futurist's own methods back (for tests); nothing if not applied."""
    _after_import.cancel("futurist", _apply_on_import)
    _remove_threads_on_demand()
    _remove_fast_shutdown()


def _remove_fast_shutdown() -> None:
    global _installed
    with _lock:
        if not is_applied():
            if _installed is not None:
                # Someone wrapped our wrapper: unwrapping ours would drop theirs.
                LOG.warning("futurist's ThreadWorker.stop was wrapped again; left in place")
            _installed = None
            _applied_fixes.withdrawn(NAME)
            return
        thread_mod, _ = _futurist()
        thread_mod.ThreadWorker.stop = _installed.__wrapped__
        _installed = None
        _applied_fixes.withdrawn(NAME)


def apply_for(conf: cfg.ConfigOpts) -> bool:
    """Apply the fixes ``conf`` has on if this process runs on threads; True if any is applied.

    Then logs the one-line summary of the fixes on (once per process).
    """
    # Not at import: executors imports futurist, which imports eventlet when it is installed.
    from oslo_threading_backend import executors

    register_opts(conf)
    executors.register_opts(conf)  # thread_pool_idle_timeout
    if backend.get_backend_type() is not backend.BackendType.THREADING:
        return False
    applied = False
    # Under oslo-threading-exec both may be in since futurist's import (apply_at_import):
    # from here on the options decide.
    _after_import.cancel("futurist", _apply_on_import)
    if conf.futurist_fast_shutdown:
        applied = apply()
    else:
        _remove_fast_shutdown()
        LOG.debug("[DEFAULT] %s = False: futurist's ThreadWorker is left as it is", OPTION)
    if conf.futurist_threads_on_demand:
        applied = apply_threads_on_demand(conf.thread_pool_idle_timeout) or applied
    else:
        _remove_threads_on_demand()
        LOG.debug("[DEFAULT] %s = False: futurist's pools grow as futurist does", ON_DEMAND_OPTION)
    # Stuck-task reports reach futurist's pools too ([DEFAULT] hung_task_threshold).
    _futurist_hung_tasks.apply_for(conf)
    _applied_fixes.log_summary()
    return applied


def _apply_on_import(_module: Any) -> None:
    apply()
    # Idle threads retire once the launcher has read thread_pool_idle_timeout (apply_for),
    # which also logs the fix's line with it.
    apply_threads_on_demand(None, announce=False)


def apply_at_import() -> None:
    """For ``oslo-threading-exec``: both fixes, with their defaults, as futurist is imported.

    The application's own pools made before ``launch()`` get them too: nova
    makes its pools in the master and shuts them down before forking, which
    without the fast shutdown took futurist's 1 s idle poll per pool on the way
    to the first fork. ``launch()`` then applies what the options say
    (:func:`apply_for`), removing a fix switched off.
    """
    _after_import.call_after_import("futurist", _apply_on_import)
