"""oslo.service's periodic_task API, with an optional bounded pool to run tasks on.

``run_periodic_tasks(context, executor="periodic_tasks")`` submits each due task to a
thread pool instead of running them one after the other, so one slow task does not
delay the others. Tasks run on the manager object itself (no pickling, unlike
oslo.service's ``run_periodic_tasks_in_parallel``, which runs copies in spawned
processes and loses what the tasks change), and a task still running from an
earlier round is not started again.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent import futures
import copy
import logging
import random
from time import monotonic as now
from typing import Any

from oslo_config import cfg

from oslo_threading_backend import backend
from oslo_threading_backend._openstack import opt_registration as _opt_registration
from oslo_threading_backend._openstack import oslo_service_classes as _oslo_service_classes
from oslo_threading_backend._threads import hung_tasks as _hung_tasks
from oslo_threading_backend._threads import pool as _thread_pool
from oslo_threading_backend.backend import UnsupportedBackendError

LOG = logging.getLogger(__name__)

DEFAULT_INTERVAL = 60.0

_DECORATOR_ARGS = ("spacing", "run_immediately", "name", "external_process_ok", "enabled")

periodic_opts = [
    cfg.BoolOpt(
        "run_external_periodic_tasks",
        default=True,
        help="Some periodic tasks can be run in a separate process. Should we run them here?",
    ),
]


def list_opts() -> list[tuple[str | None, list[cfg.Opt]]]:
    """Entry point for oslo-config-generator."""
    return [(None, copy.deepcopy(periodic_opts))]


#: The named executor run_periodic_tasks_in_parallel() uses by default.
PARALLEL_EXECUTOR = "periodic_tasks"


class InvalidPeriodicTaskArg(*_oslo_service_classes.base("InvalidPeriodicTaskArg"), TypeError):
    """An argument periodic_task does not accept (a TypeError, unlike oslo.service)."""

    message = "Unexpected argument for periodic task creation: %(arg)s."

    def __init__(self, arg: str = "", detail: str = "") -> None:
        self.arg = arg
        text = self.message % {"arg": arg}
        super().__init__(f"{text} {detail}".strip())


def _check_spacing(spacing: Any) -> float:
    if isinstance(spacing, bool) or not isinstance(spacing, (int, float)):
        raise InvalidPeriodicTaskArg(
            "spacing", f"It must be a number of seconds, got {spacing!r}."
        )
    if spacing != spacing:  # NaN would never be due
        raise ValueError(f"spacing must be a number of seconds, got {spacing!r}")
    return spacing


def periodic_task(*args: Any, **kwargs: Any) -> Any:
    """Mark a method as a periodic task of its PeriodicTasks class.

    Bare (``@periodic_task``: every DEFAULT_INTERVAL seconds) or with arguments:
    ``spacing`` seconds between runs (0: DEFAULT_INTERVAL; negative: disabled, as in
    oslo.service), ``run_immediately`` (first run at the first round rather than one
    spacing after the manager is created), ``name`` (default: the function's name),
    ``external_process_ok`` (skipped when [DEFAULT] run_external_periodic_tasks is
    False) and ``enabled``.
    """
    if "ticks_between_runs" in kwargs:
        raise InvalidPeriodicTaskArg("ticks_between_runs", "Use spacing instead.")
    unknown = sorted(set(kwargs) - set(_DECORATOR_ARGS))
    if unknown:
        raise InvalidPeriodicTaskArg(
            unknown[0], f"Allowed arguments: {', '.join(_DECORATOR_ARGS)}."
        )
    spacing = _check_spacing(kwargs.get("spacing", 0))
    name = kwargs.get("name")
    if name is not None and (not isinstance(name, str) or not name):
        raise InvalidPeriodicTaskArg("name", f"It must be a non-empty string, got {name!r}.")

    def decorator(f: Callable[..., Any]) -> Callable[..., Any]:
        if not callable(f):
            raise TypeError(f"periodic_task decorates a callable, got {f!r}")
        f._periodic_task = True
        f._periodic_external_ok = bool(kwargs.get("external_process_ok", False))
        f._periodic_enabled = bool(kwargs.get("enabled", True))
        f._periodic_name = name or f.__name__
        f._periodic_spacing = spacing
        f._periodic_immediate = bool(kwargs.get("run_immediately", False))
        # Kept for code that inspects it; the schedule starts at manager creation.
        f._periodic_last_run = None if f._periodic_immediate else now()
        return f

    if args:
        if kwargs or len(args) != 1:
            raise TypeError("use @periodic_task or @periodic_task(keyword=value, ...)")
        return decorator(args[0])
    return decorator


def _accept(task: Any) -> tuple[str, float] | None:
    """(name, spacing) of a task to schedule, or None when it must be skipped."""
    if not getattr(task, "_periodic_task", False):
        raise TypeError(f"{task!r} is not decorated with @periodic_task")
    name = task._periodic_name
    if task._periodic_spacing < 0:
        LOG.info(
            "Skipping periodic task %(task)s because its interval is negative", {"task": name}
        )
        return None
    if not task._periodic_enabled:
        LOG.info("Skipping periodic task %(task)s because it is disabled", {"task": name})
        return None
    # Zero means "the default interval", to avoid running too frequently.
    return name, float(task._periodic_spacing or DEFAULT_INTERVAL)


class _PeriodicTasksMeta(type):
    def __init__(cls, names: Any, bases: Any, dict_: Any) -> None:
        """Collect the decorated methods; a subclass extends a copy of its parent's."""
        super().__init__(names, bases, dict_)
        cls._periodic_tasks = list(getattr(cls, "_periodic_tasks", []))
        cls._periodic_spacing = dict(getattr(cls, "_periodic_spacing", {}))
        for value in cls.__dict__.values():
            if getattr(value, "_periodic_task", False):
                cls._add_periodic_task(value)

    def _add_periodic_task(cls, task: Any) -> bool:
        accepted = _accept(task)
        if accepted is None:
            return False
        name, spacing = accepted
        cls._periodic_tasks.append((name, task))
        cls._periodic_spacing[name] = spacing
        return True


def _nearest_boundary(last_run: float | None, spacing: float) -> float:
    """Next last-run value: a multiple of spacing after last_run, plus 0-5 % jitter.

    The jitter (rounded down to whole seconds) keeps tasks of many services from
    running in step.
    """
    current_time = now()
    if last_run is None:
        return current_time
    offset = (current_time - last_run) % spacing
    jitter = int(spacing * (random.random() / 20))  # noqa: S311
    return current_time - offset + jitter


class _Running:
    """Futures of tasks started on a pool, by task name; copies start empty.

    Futures hold locks, which cannot be deep-copied or pickled: a manager that is
    copied must stay copyable.
    """

    def __init__(self) -> None:
        self.futures: dict[str, futures.Future] = {}

    def __deepcopy__(self, memo: Any) -> _Running:
        return _Running()

    def __copy__(self) -> _Running:
        return _Running()

    def __reduce__(self) -> Any:
        return (_Running, ())


class PeriodicTasks(metaclass=_PeriodicTasksMeta):
    """Base class of managers whose methods are decorated with @periodic_task.

    run_periodic_tasks is meant to be called from one thread (the service's periodic
    loop), never concurrently with itself.
    """

    _periodic_tasks: list[tuple[str, Any]]
    _periodic_spacing: dict[str, float]

    def __init__(self, conf: cfg.ConfigOpts) -> None:
        """``conf``: a ConfigOpts, or any object with ``register_opts()`` (as oslo.service).

        Consumers pass mocks and ConfigOpts wrappers in their tests.
        """
        super().__init__()
        if not callable(getattr(conf, "register_opts", None)):
            raise TypeError(
                "conf must be an oslo_config.cfg.ConfigOpts or an object with "
                f"register_opts(), not {conf!r}"
            )
        self.conf = conf
        _opt_registration.register_missing(self.conf, periodic_opts)
        # Per instance: oslo.service's add_periodic_task changed the class, so a
        # task added to one manager ran on every instance.
        self._periodic_tasks = list(type(self)._periodic_tasks)
        self._periodic_spacing = dict(type(self)._periodic_spacing)
        created = now()
        # oslo.service starts the first interval when the module is imported; here
        # it starts when the manager is created, as its documentation says.
        self._periodic_last_run: dict[str, float | None] = {
            name: None if task._periodic_immediate else created
            for name, task in self._periodic_tasks
        }
        self._periodic_running = _Running()

    def add_periodic_task(self, task: Callable[..., Any]) -> None:
        """Add a @periodic_task-decorated function, called as task(self, context).

        Affects this manager only.
        """
        accepted = _accept(task)
        if accepted is None:
            return
        name, spacing = accepted
        self._periodic_tasks.append((name, task))
        self._periodic_spacing[name] = spacing
        self._periodic_last_run[name] = None if task._periodic_immediate else now()

    def run_periodic_tasks(
        self,
        context: Any,
        raise_on_error: bool = False,
        executor: str | futures.Executor | None = None,
    ) -> float:
        """Run the tasks that are due; return the seconds until one is next due.

        Without ``executor`` the tasks run here, one after the other. With an
        executor (a name from oslo_threading_backend.executors, e.g.
        "periodic_tasks", or an Executor) each due task is submitted and this
        returns at once; a task whose previous run has not finished is skipped.
        Its errors are logged when it ends and, with ``raise_on_error``, raised by
        the next call.
        """
        if executor is not None and not isinstance(executor, (str, futures.Executor)):
            raise TypeError(
                f"executor must be None, an executor name or a "
                f"concurrent.futures.Executor, got {executor!r}"
            )
        self._collect_finished(raise_on_error)
        idle_for = DEFAULT_INTERVAL
        cls_name = type(self).__name__
        for task_name, task in self._periodic_tasks:
            if task._periodic_external_ok and not self.conf.run_external_periodic_tasks:
                continue
            full_task_name = f"{cls_name}.{task_name}"
            spacing = self._periodic_spacing[task_name]
            last_run = self._periodic_last_run[task_name]

            idle_for = min(idle_for, spacing)
            if last_run is not None:
                delta = last_run + spacing - now()
                if delta > 0:
                    idle_for = min(idle_for, delta)
                    continue
            if task_name in self._periodic_running.futures:
                LOG.debug(
                    "Not running periodic task %(full_task_name)s: its previous run "
                    "has not finished",
                    {"full_task_name": full_task_name},
                )
                continue

            LOG.debug(
                "Running periodic task %(full_task_name)s", {"full_task_name": full_task_name}
            )
            self._periodic_last_run[task_name] = _nearest_boundary(last_run, spacing)
            if executor is None:
                try:
                    with _hung_tasks.watching(f"periodic tasks of {cls_name}", task):
                        task(self, context)
                except BaseException:
                    if raise_on_error:
                        raise
                    LOG.exception(
                        "Error during %(full_task_name)s", {"full_task_name": full_task_name}
                    )
            else:
                self._start(executor, task_name, full_task_name, task, context)
        return idle_for

    def run_periodic_tasks_in_parallel(
        self, context: Any, raise_on_error: bool = False, processes: int | None = None
    ) -> float:
        """Run the due tasks side by side and wait for them; returns the idle time.

        oslo.service runs them in a pool of spawned processes, which needs the
        manager and the context to pickle and loses what the tasks change on the
        manager. Here they run on threads of this process: the "periodic_tasks"
        executor, or a pool of ``processes`` threads made for this call.
        """
        if backend.get_backend_type() is backend.BackendType.EVENTLET:
            raise UnsupportedBackendError(
                "run_periodic_tasks_in_parallel is not supported with the eventlet "
                "backend. Use the threading backend."
            )
        pool = None
        if processes is not None:
            if isinstance(processes, bool) or not isinstance(processes, int):
                raise TypeError(f"processes must be None or an int >= 1, got {processes!r}")
            if processes < 1:
                raise ValueError(f"processes must be None or an int >= 1, got {processes!r}")
            pool = _thread_pool.ThreadPoolExecutor(
                processes, name=f"{type(self).__name__}.periodic"
            )
        try:
            idle_for = self.run_periodic_tasks(
                context, raise_on_error=raise_on_error, executor=pool or PARALLEL_EXECUTOR
            )
            self.wait_for_periodic_tasks()
            self._collect_finished(raise_on_error)
        finally:
            if pool is not None:
                pool.shutdown()
        return idle_for

    def _start(
        self,
        executor: str | futures.Executor,
        task_name: str,
        full_task_name: str,
        task: Any,
        context: Any,
    ) -> None:
        # Imported here: the synchronous API must not need the executors registry.
        from oslo_threading_backend import executors

        where = f"periodic tasks of {type(self).__name__}"

        def run() -> None:
            try:
                with _hung_tasks.watching(where, task):
                    task(self, context)
            except BaseException:
                # Logged before the future completes, so whoever waits on it sees
                # the log line.
                LOG.exception(
                    "Error during %(full_task_name)s", {"full_task_name": full_task_name}
                )
                raise

        run.__qualname__ = full_task_name  # named in the pool's "queued" warning
        self._periodic_running.futures[task_name] = executors.spawn_on(executor, run)

    def _collect_finished(self, raise_on_error: bool) -> None:
        running = self._periodic_running.futures
        first_error: BaseException | None = None
        for task_name, future in list(running.items()):
            if not future.done():
                continue
            del running[task_name]
            if raise_on_error and first_error is None and not future.cancelled():
                first_error = future.exception()
        if first_error is not None:
            raise first_error

    def wait_for_periodic_tasks(self, timeout: float | None = None) -> bool:
        """Wait for the tasks started on an executor; False if some still run."""
        if timeout is not None and (
            isinstance(timeout, bool) or not isinstance(timeout, (int, float))
        ):
            raise TypeError(f"timeout must be a number of seconds or None, got {timeout!r}")
        if timeout is not None and timeout < 0:
            raise ValueError(f"timeout must not be negative, got {timeout!r}")
        pending = list(self._periodic_running.futures.values())
        _, not_done = futures.wait(pending, timeout=timeout)
        return not not_done
