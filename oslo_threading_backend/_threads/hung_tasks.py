"""Stuck tasks are reported: one WARNING with the thread's stack, one INFO when it ends.

A native thread can wait forever on a lock, a socket without a timeout or a
database row, and nothing else in the process notices. Every place that runs
someone's code on a thread of its own (our pools, futurist's pools through
``_upstream.futurist_hung_tasks``, thread-group threads, looping-call
iterations, periodic tasks) brackets the call with :func:`begin` and
:func:`end`. A task still running ``[DEFAULT] hung_task_threshold`` seconds
after it began gets one WARNING naming where it runs, the task, how long it has
run and its thread's current stack; when it ends, one INFO says how long it was
stuck. Nothing is logged per check.

Cost: :func:`begin` and :func:`end` add a dict insert and delete, no lock and
no wake-up; a pool thread reuses one :class:`Task` for all its runs. One
watcher thread per process sleeps until the earliest deadline: tasks
registered while it sleeps end later than it wakes, so they need not wake it.
It starts with the first task, exits when no task is running at a wake-up, and
is never inherited by a forked child (a child starts its own).

Nesting (a periodic task inside a looping-call iteration, a task inside a pool
task): only the innermost task of a thread is reported; the outer ones count as
stuck with it and are not reported again.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterator
import contextlib
import logging
import math
import os
import sys
import threading
from threading import get_ident
import time
import traceback
from typing import Any
from typing import TypeVar

from oslo_config import cfg

from oslo_threading_backend._openstack import config_check as _config_check
from oslo_threading_backend._openstack import opt_registration as _opt_registration
from oslo_threading_backend._threads.arg_checks import callable_name as _callable_name

LOG = logging.getLogger(__name__)

OPTION = "hung_task_threshold"
WATCHER_NAME = "hung-task-watcher"
_RUNS_UNTIL_STOPPED = "_oslo_threading_runs_until_stopped"
_F = TypeVar("_F", bound=Callable[..., Any])
DEFAULT_THRESHOLD = 600.0

hung_task_opts = [
    cfg.FloatOpt(
        OPTION,
        default=DEFAULT_THRESHOLD,
        min=0,
        help="Seconds after which a task still running is reported as stuck: one "
        "WARNING naming the pool or thread, the task, how long it has run and its "
        "thread's stack, then one INFO when it ends. Watches the tasks of every "
        "thread pool of the process (ours and futurist's, so oslo.messaging's RPC "
        "handlers too), thread-group threads (but targets marked "
        "threadgroup.runs_until_stopped), and each run of a looping call or "
        "periodic task. 0 turns it off; floats are accepted. The default, 10 "
        "minutes (as Tomcat's and WebSphere's stuck-thread detection), is ten "
        "times oslo.messaging's RPC timeout and above any periodic task spacing, "
        "so a report means a thread that will likely never return.",
    ),
]

#: Seconds; 0 is off. Read without a lock on every begin().
_threshold = DEFAULT_THRESHOLD

#: The running tasks, as keys: a dict, not a set, for its atomic copy() and its
#: order (a task nested in another on one thread comes after it).
_running: dict[Task, None] = {}
_lock = threading.Lock()
_wake = threading.Event()
_watching = False


class Task:
    """One call being watched; returned by :func:`begin`, given back to :func:`end`.

    A pool thread reuses one Task for all its tasks (``begin(..., reuse=task)``):
    an object made per task cost a pool 2 us a task under the GIL (benchmarks'
    scatter-gather). So a flag is kept as the ``started`` of the run it was set
    for: a reused Task starts each run with none set, without writing them.
    """

    __slots__ = ("ident", "owner", "func", "started", "_reported", "_covered", "_told")

    def __init__(self, owner: Any, func: Any, started: float) -> None:
        self.ident = get_ident()
        self.owner = owner
        self.func = func
        self.started = started
        self._reported: float | None = None
        self._covered: float | None = None
        self._told: float | None = None

    @property
    def reported(self) -> bool:
        """The watcher logged this run's WARNING."""
        return self._reported == self.started

    @property
    def covered(self) -> bool:
        """A task nested in this run on its thread was reported."""
        return self._covered == self.started

    @property
    def told(self) -> bool:
        """This run's INFO line about its end was logged."""
        return self._told == self.started


def list_opts() -> list[tuple[str | None, list[cfg.Opt]]]:
    """Entry point for oslo-config-generator."""
    return [(None, list(hung_task_opts))]


def register_opts(conf: cfg.ConfigOpts) -> None:
    """Register the option on ``conf``; safe to call more than once."""
    _opt_registration.register_missing(conf, hung_task_opts)


def check_threshold(value: Any) -> float:
    """``value`` as seconds >= 0, or an error naming the option (one line)."""
    allowed = f"[DEFAULT] {OPTION} must be a number of seconds >= 0 (0 turns it off)"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{allowed}, not {type(value).__name__} ({value!r})")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{allowed}, not {value!r}")
    return float(value)


def threshold_from(conf: cfg.ConfigOpts) -> float:
    """The threshold ``conf`` holds, checked before any fork.

    :raises InvalidConfigValue: (a ValueError) one line naming the file, the
        option, the value and what is allowed: oslo.config's own refusal
        (``-1``, ``ten``) as every option's, and ``nan`` or ``inf``, which
        oslo.config's FloatOpt accepts.
    """
    register_opts(conf)
    try:
        value = getattr(conf, OPTION)
    except (cfg.Error, ValueError):
        _config_check.check_values(conf)  # the one line, as for any option
        raise
    try:
        return check_threshold(value)
    except (TypeError, ValueError):
        raise _config_check.InvalidConfigValue(
            "DEFAULT",
            OPTION,
            value,
            None,
            "not a finite number of seconds",
            "a number of seconds >= 0 (0 turns it off)",
        ) from None


def configure(conf: cfg.ConfigOpts) -> float:
    """Take the threshold from ``conf`` (in the launcher, before any fork)."""
    threshold = threshold_from(conf)
    set_threshold(threshold)
    return threshold


def set_threshold(seconds: float) -> None:
    """Report tasks running longer than ``seconds`` (0: off); applies to running ones too."""
    global _threshold
    _threshold = check_threshold(seconds)
    _wake.set()  # the watcher recomputes its deadline
    if _threshold and _running and not _watching:
        _start_watcher()


def get_threshold() -> float:
    return _threshold


def begin(
    owner: Any, func: Any, started: float | None = None, reuse: Task | None = None
) -> Task | None:
    """Watch ``func`` running now on this thread for ``owner``; None when the check is off.

    ``owner``: a pool (counted in :func:`stuck_count`), or a string saying
    where the task runs ("thread group g", "looping call"). ``started``: its
    ``time.monotonic()`` start, when the caller has read it already.
    ``reuse``: a Task this thread's loop got from begin() for the same owner and
    has ended, to watch this run with instead of a new one.
    """
    if not _threshold:
        return None
    if started is None:
        started = time.monotonic()
    if reuse is None:
        task = Task(owner, func, started)
    else:
        task = reuse
        # started first: a watcher that reads it before and after func knows
        # whether func is of the run it checked (see _report).
        task.started = started
        task.func = func
    _running[task] = None
    if not _watching:
        _start_watcher()
    return task


def end(task: Task | None) -> None:
    """The task returned (or raised); logs the INFO line if it was reported stuck."""
    if task is None:
        return
    _running.pop(task, None)
    started = task.started
    if task._reported == started:
        _tell_end(task, task.func, started)


def _tell_end(task: Task, func: Any, started: float) -> None:
    # Once, and after the WARNING (logged under _lock): end() and the watcher may
    # both see that a task reported just now has ended.
    with _lock:
        if task._told == started:
            return
        task._told = started
    LOG.info(
        "Task %s on %s (thread %s) was stuck for %.1f s; it has ended",
        _task_name(func),
        describe(task.owner),
        _thread_name(task.ident),
        time.monotonic() - started,
    )


def runs_until_stopped(func: _F) -> _F:
    """Mark a thread-group target that serves until stopped: its thread is not a task.

    A group thread is otherwise watched as one task from its start, and one
    that serves for the life of the service would be reported as stuck.
    """
    setattr(func, _RUNS_UNTIL_STOPPED, True)
    return func


def begin_thread(owner: Any, func: Any) -> Task | None:
    """:func:`begin` for a group thread's target, unless it runs until stopped."""
    if getattr(func, _RUNS_UNTIL_STOPPED, False):
        return None
    return begin(owner, func)


@contextlib.contextmanager
def watching(owner: Any, func: Any) -> Iterator[None]:
    """``begin`` and ``end`` around a block (for the callers that are not per-task hot)."""
    task = begin(owner, func)
    try:
        yield
    finally:
        end(task)


def describe(owner: Any) -> str:
    """Where a task runs, as the lines say it: a pool's name, never an address."""
    if owner is None:
        return "a thread"
    if isinstance(owner, str):
        return owner
    name = getattr(owner, "name", None)
    kind = type(owner)
    kind_name = f"{kind.__module__.split('.')[0]} {kind.__qualname__}"
    return f"pool {name}" if isinstance(name, str) and name else kind_name


def _task_name(func: Any) -> str:
    try:
        return _callable_name(func)
    except Exception:  # a name must never break the report
        return type(func).__qualname__


def _thread_name(ident: int) -> str:
    for thread in threading.enumerate():
        if thread.ident == ident:
            return thread.name
    return f"ident {ident}"


def _stuck_idents(tasks: list[Task]) -> set[int]:
    return {task.ident for task in tasks if task.reported}


def stuck_count(owner: Any = None) -> int:
    """Threads stuck now: in ``owner``'s tasks, or in the whole process (None)."""
    tasks = list(_running.copy())
    stuck = _stuck_idents(tasks)
    if owner is None:
        return len(stuck)
    return len({t.ident for t in tasks if t.ident in stuck and t.owner is owner})


# -- the watcher ---------------------------------------------------------------


def _start_watcher() -> None:
    global _watching
    with _lock:
        if _watching:
            return
        thread = threading.Thread(target=_watch, name=WATCHER_NAME, daemon=True)
        try:
            thread.start()
        except RuntimeError:  # "can't start new thread": never fail the task for it
            LOG.debug("Could not start the stuck-task watcher", exc_info=True)
            return
        _watching = True


def _keep_watching(threshold: float) -> bool:
    """False, and the watcher is gone, when no task runs or the check is off.

    begin() (or set_threshold()) starts a new one.
    """
    global _watching
    with _lock:
        _watching = False
        # A begin() that saw _watching True added its task before: it is seen here.
        if _running and threshold:
            _watching = True
    return _watching


def _watch() -> None:
    while True:
        _wake.clear()
        threshold = _threshold
        if not _keep_watching(threshold):
            return
        now = time.monotonic()
        next_check = now + threshold
        # Each task with the start of the run seen now: a reused Task (see begin)
        # may be on its next run by the time it is looked at.
        runs = [(task, task.started) for task in _running.copy()]
        for due in _check(runs, threshold, now):
            next_check = min(next_check, due)
        _wake.wait(max(next_check - time.monotonic(), 0.001))


def _check(runs: list[tuple[Task, float]], threshold: float, now: float) -> Iterator[float]:
    """Report the overdue innermost task of each thread; yield when to look again."""
    by_thread: dict[int, list[tuple[Task, float]]] = {}
    for run in runs:
        by_thread.setdefault(run[0].ident, []).append(run)
    for thread_runs in by_thread.values():
        inner, started = thread_runs[-1]
        if started in (inner._reported, inner._covered):
            continue
        if started + threshold > now:
            # Overdue outer tasks wait for the inner one's verdict (it is due last).
            yield min(s + threshold for _, s in thread_runs if s + threshold > now)
            continue
        _report(inner, started, now)
        for outer, outer_started in thread_runs[:-1]:
            outer._covered = outer_started


def _report(task: Task, started: float, now: float) -> None:
    with _lock:
        func = task.func
        # Still the run seen overdue (a reused Task writes started before func).
        if task not in _running or task.started != started:
            return  # it ended meanwhile
        task._reported = started
        frame = sys._current_frames().get(task.ident)
        stack = "".join(traceback.format_stack(frame)).rstrip() if frame else "  (no stack)"
        del frame
        LOG.warning(
            "Task %s on %s (thread %s) has run for %.1f s, longer than [DEFAULT] %s "
            "(%g s): it may be stuck. Its thread's stack (most recent call last):\n%s",
            _task_name(func),
            describe(task.owner),
            _thread_name(task.ident),
            now - started,
            OPTION,
            _threshold,
            stack,
        )
    if task not in _running or task.started != started:
        _tell_end(task, func, started)  # end() may have missed that it was reported


def _after_fork_in_child() -> None:
    # The watcher thread and the parent's other threads do not exist here: keep
    # only the tasks of the thread that forked; begin() starts a new watcher.
    global _lock, _wake, _watching, _running
    _lock = threading.Lock()
    _wake = threading.Event()
    _watching = False
    me = threading.get_ident()
    _running = {task: None for task in list(_running) if task.ident == me}


os.register_at_fork(after_in_child=_after_fork_in_child)

__all__ = [
    "OPTION",
    "WATCHER_NAME",
    "Task",
    "begin",
    "begin_thread",
    "configure",
    "end",
    "get_threshold",
    "list_opts",
    "register_opts",
    "runs_until_stopped",
    "set_threshold",
    "stuck_count",
    "watching",
]
