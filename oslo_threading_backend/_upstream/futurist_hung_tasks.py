"""Stuck-task reports for futurist's pools: oslo.messaging's RPC handlers, the application's.

futurist 3.5.0 has no way to say that a task has been running too long. Its
pool threads run each task through ``futurist._utils.WorkItem.run()``; the
wrapper here brackets that call with ``_threads.hung_tasks.begin()``/``end()``,
so a task stuck in any ``futurist.ThreadPoolExecutor`` of the process is
reported as our own pools' are, and counted in its pool's statistics. Nothing
else of futurist changes. ``futurist_fixes.apply_for()`` applies it together with
the fast shutdown, in the master before it forks (workers inherit it) and in a
spawned worker, unless the threshold is 0; the fixes' summary line names it.
"""

from __future__ import annotations

import functools
import threading
from typing import Any

from oslo_threading_backend import backend
from oslo_threading_backend._threads import hung_tasks as _hung_tasks
from oslo_threading_backend._upstream import applied_fixes as _applied_fixes

#: The fix's name in the one-line summary of the fixes applied (:mod:`.applied_fixes`).
NAME = "futurist stuck-task reports"

_lock = threading.Lock()
_installed: Any = None  # our wrapper of WorkItem.run, while it is in place


def _work_item_class() -> Any:
    # The backend is settled before futurist is imported (futurist imports eventlet).
    backend.settle_backend()
    from futurist import _utils

    return getattr(_utils, "WorkItem", None)


def _owner() -> Any:
    """The pool of the futurist thread running this (None outside a pool thread)."""
    executor_ref = getattr(threading.current_thread(), "executor_ref", None)
    return executor_ref() if executor_ref is not None else None


def _wrap(original: Any) -> Any:
    @functools.wraps(original)
    def run(self: Any) -> None:
        """futurist's ``WorkItem.run()``, watched for stuck tasks (our addition)."""
        watched = _hung_tasks.begin(_owner(), self.fn)
        try:
            original(self)
        finally:
            _hung_tasks.end(watched)

    return run


def is_applied() -> bool:
    work_item = _work_item_class()
    return _installed is not None and work_item.__dict__.get("run") is _installed


def apply() -> bool:
    """Wrap futurist's ``WorkItem.run``; idempotent. False if futurist has no WorkItem.run."""
    global _installed
    work_item = _work_item_class()
    with _lock:
        if is_applied():
            return True
        if work_item is None or not callable(getattr(work_item, "run", None)):
            return False
        _installed = _wrap(work_item.run)
        work_item.run = _installed
    _applied_fixes.applied(
        NAME,
        "futurist's WorkItem.run() is watched: a task of any futurist pool running longer "
        f"than [DEFAULT] {_hung_tasks.OPTION} is reported",
        f"[DEFAULT] {_hung_tasks.OPTION}",
    )
    return True


def apply_for(conf: Any) -> bool:
    """Take ``[DEFAULT] hung_task_threshold`` from ``conf`` and watch futurist's pools.

    :raises ValueError: the threshold is not a number of seconds >= 0 (one
        line naming the option), before anything is changed.
    """
    if not _hung_tasks.configure(conf):
        remove()  # 0: off, and futurist left as it is
        return False
    return apply()


def remove() -> None:
    """Put futurist's own ``WorkItem.run`` back (for tests)."""
    global _installed
    with _lock:
        if is_applied():
            _work_item_class().run = _installed.__wrapped__
        _installed = None
    _applied_fixes.withdrawn(NAME)
