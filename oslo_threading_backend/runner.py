"""``oslo-threading-run``: run any oslo.service-style service from the command line.

::

    oslo-threading-run [MODULE:FACTORY] [--workers N] [--no-fork]
                       [--restart-method reload|mutate] [oslo.config options ...]
    oslo-threading-run demo-submit COUNT [oslo.config options ...]

``FACTORY`` is called with the parsed ConfigOpts (it may register options of its
own on it) and returns a ServiceBase. The runner sets up oslo.config and
oslo.log, selects the threading backend, launches the service and exits with
the launcher's status. Options it does not know (``--config-file``,
``--config-dir``, ``--debug``, ``--log-file``, ...) go to oslo.config.

Only oslo.config, oslo.log and :mod:`~oslo_threading_backend.backend` are
imported before the backend is selected: the launchers import futurist, which
imports eventlet if it is installed, and the backend must be settled first.
"""

from __future__ import annotations

import importlib
import logging as std_logging
import os
import signal
import sys
from typing import TYPE_CHECKING
from typing import Any

from oslo_config import cfg
from oslo_log import log as logging

from oslo_threading_backend import backend
from oslo_threading_backend._cli import startup_log as _startup_log
from oslo_threading_backend._cli.runner_cli import DEFAULT_TARGET
from oslo_threading_backend._cli.runner_cli import DEFAULT_WORKERS
from oslo_threading_backend._cli.runner_cli import PROG
from oslo_threading_backend._cli.runner_cli import SUBMIT_COMMAND
from oslo_threading_backend._cli.runner_cli import USAGE_ERROR
from oslo_threading_backend._cli.runner_cli import UsageError
from oslo_threading_backend._cli.runner_cli import build_parser
from oslo_threading_backend._cli.runner_cli import help_text
from oslo_threading_backend._cli.runner_cli import parse_args
from oslo_threading_backend._cli.runner_cli import parse_conf

if TYPE_CHECKING:
    from oslo_threading_backend.service import ServiceBase

UsageError.__module__ = __name__  # defined in _cli; users catch it from here

__all__ = [
    "DEFAULT_TARGET",
    "DEFAULT_WORKERS",
    "FactoryFailed",
    "PROG",
    "SUBMIT_COMMAND",
    "USAGE_ERROR",
    "UsageError",
    "build_parser",
    "build_service",
    "load_factory",
    "main",
    "make_service",
    "parse_args",
    "parse_conf",
    "run",
    "submit",
]

LOG = logging.getLogger(__name__)


def import_from_cwd() -> None:
    """Put the current directory first on sys.path, as ``python -m`` and gunicorn do.

    A console script's sys.path starts with its own bin directory, so without
    this ``oslo-threading-run hello:make_service`` would not find ./hello.py
    where ``python -m oslo_threading_backend hello:make_service`` does.
    """
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)


def load_factory(target: str) -> Any:
    """The callable named by ``MODULE:FACTORY``; UsageError if there is none."""
    module_name, sep, attr = target.partition(":")
    if not sep or not module_name or not attr:
        raise UsageError(f"target must be MODULE:FACTORY, not {target!r}")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise UsageError(
            f"cannot import module {module_name!r} of {target!r}: {type(exc).__name__}: {exc}"
        ) from None
    factory: Any = module
    try:
        for part in attr.split("."):
            factory = getattr(factory, part)
    except AttributeError:
        raise UsageError(f"module {module_name!r} has no attribute {attr!r}") from None
    if not callable(factory):
        raise UsageError(f"{target!r} is not callable: {type(factory).__name__} {factory!r}")
    return factory


def make_service(target: str, factory: Any, conf: cfg.ConfigOpts) -> ServiceBase:
    """``factory(conf)``, checked to be a ServiceBase (UsageError otherwise)."""
    from oslo_threading_backend import service

    try:
        svc = factory(conf)
    except Exception as exc:
        LOG.debug("%s(conf) failed", target, exc_info=True)
        raise FactoryFailed(f"{target}(conf) failed: {type(exc).__name__}: {exc}") from exc
    if not isinstance(svc, service.ServiceBase):
        raise UsageError(
            f"{target}(conf) returned {type(svc).__name__} {svc!r}, not an "
            "oslo_threading_backend.service.ServiceBase"
        )
    return svc


def _project(target: str) -> str:
    """oslo.config's project: the target's top package (names the default config files)."""
    return target.partition(":")[0].split(".")[0] or "oslo_threading_backend"


def setup_logging(conf: cfg.ConfigOpts, project: str) -> None:
    logging.setup(conf, project)
    std_logging.captureWarnings(True)


def _select_threading_backend(conf: cfg.ConfigOpts) -> None:
    """Select the threading backend as the config decides; UsageError if it cannot be."""
    backend.register_opts(conf)
    try:
        chosen = backend.select_backend(conf=conf, default=backend.BackendType.THREADING)
    except (
        backend.BackendAlreadySelected,
        backend.BackendNotAvailable,
        RuntimeError,
        ValueError,
    ) as exc:
        raise UsageError(
            f"cannot select the concurrency backend{_chosen_by(conf)}: {exc}"
        ) from None
    if chosen is not backend.BackendType.THREADING:
        raise UsageError(
            "this command runs services on native threads only, but [DEFAULT] "
            f"concurrency_backend chose {chosen.value!r}: set it to 'threading' or 'auto'"
        )


def _chosen_by(conf: cfg.ConfigOpts) -> str:
    """ " (chosen by [DEFAULT] concurrency_backend = X)" unless the option is auto or bad."""
    try:
        value = str(conf.concurrency_backend).strip()
    except (cfg.Error, ValueError):
        return ""
    return "" if value.lower() == "auto" else f" ([DEFAULT] concurrency_backend = {value})"


class FactoryFailed(Exception):
    """``FACTORY(conf)`` raised: one line on stderr, exit status 1."""


def build_service(target: str, conf: cfg.ConfigOpts) -> ServiceBase:
    """Select the backend, then import the target and call it with ``conf``.

    The backend comes first so that it is settled before anything imports
    futurist (and eventlet, if installed). The runner's start-up log lines are
    held back until the service exists, and dropped if it cannot be built, so
    that the error is the one line on stderr (the target's own logs are kept).

    :raises UsageError: the backend or the target is not usable.
    :raises FactoryFailed: the factory raised.
    """
    with _startup_log.held() as held:
        try:
            _select_threading_backend(conf)
            import_from_cwd()
            factory = load_factory(target)
            check_conf(conf)  # the options the target registered at import
            try:
                svc = make_service(target, factory, conf)
            except FactoryFailed as exc:
                if isinstance(exc.__cause__, (cfg.Error, ValueError)):
                    check_conf(conf)  # a value the factory read: the same one line
                raise
            check_conf(conf)
            return svc
        except (UsageError, FactoryFailed):
            held.drop_startup_lines()
            raise


def check_conf(conf: cfg.ConfigOpts) -> None:
    """Read every registered option now: a value that does not convert is one line.

    Otherwise the launcher would meet it later (``graceful_shutdown_timeout =
    5s`` or ``-1``) and end with a traceback.

    :raises UsageError: a value does not convert, or the timeout is negative.
    """
    # None of them imports futurist.
    from oslo_threading_backend._openstack import config_check as _config_check
    from oslo_threading_backend._openstack import service_opts as _service_opts
    from oslo_threading_backend._openstack import worker_health_opts as _worker_health_opts
    from oslo_threading_backend._threads import hung_tasks as _hung_tasks

    _service_opts.register_service_opts(conf)
    _register_launcher_opts(conf)
    _worker_health_opts.register_opts(conf)
    try:
        _config_check.check_values(conf)
        _service_opts.check_shutdown_timeout(conf)
        _hung_tasks.threshold_from(conf)
        _worker_health_opts.check_worker_hang_timeout(conf)
    except (cfg.Error, ValueError) as exc:
        raise UsageError(f"the config is not usable: {exc}") from None


def _register_launcher_opts(conf: cfg.ConfigOpts) -> None:
    """The options the launcher registers, so that their values are read before the factory's.

    The backend is selected already: importing these modules (futurist) is safe.
    """
    from oslo_threading_backend import executors
    from oslo_threading_backend import process_stats
    from oslo_threading_backend import thread_dump
    from oslo_threading_backend._upstream import futurist_fixes
    from oslo_threading_backend._upstream import messaging_server_fixes

    for register in (
        executors.register_opts,
        thread_dump.register_opts,
        process_stats.register_opts,
        futurist_fixes.register_opts,
        messaging_server_fixes.register_opts,
    ):
        register(conf)


def run(argv: list[str]) -> int:
    """Run ``MODULE:FACTORY`` until it stops; returns the exit status."""
    args, rest = parse_args(argv)
    if args.help:
        sys.stdout.write(help_text())
        return 0
    # Until the launcher's own handlers are in place (the master's, or the
    # no_fork runner's), SIGTERM ends the start-up cleanly instead of killing.
    signal.signal(signal.SIGTERM, _stop_before_start)
    try:
        project = _project(args.target)
        conf = parse_conf(rest, project, argv)
        setup_logging(conf, project)
        try:
            svc = build_service(args.target, conf)
        except FactoryFailed as exc:
            sys.stderr.write(f"{PROG}: error: {exc}\n")
            return 1
        # The backend is selected: importing the launchers (and futurist) is safe now.
        from oslo_threading_backend import service

        try:
            launcher = service.launch(
                conf,
                svc,
                workers=args.workers,
                restart_method=args.restart_method,
                no_fork=args.no_fork,
            )
            return launcher.wait()
        except service.InvalidConfigValue as exc:  # registered since check_conf()
            raise UsageError(f"the config is not usable: {exc}") from None
    except _StoppedBeforeStart:
        LOG.info("Caught SIGTERM before the service started: exiting")
        return 0


class _StoppedBeforeStart(SystemExit):
    def __init__(self) -> None:
        super().__init__(0)


def _stop_before_start(signo: int, frame: object) -> None:
    raise _StoppedBeforeStart


def submit(argv: list[str]) -> int:
    """``demo-submit COUNT [oslo.config options]``: queue COUNT demo requests."""
    try:
        count: int | None = int(argv[0]) if argv else None
    except ValueError:
        count = None
    if count is None and (not argv or argv[0].startswith("-")):
        raise UsageError(f"{SUBMIT_COMMAND} needs COUNT, the number of requests to queue")
    if count is None or count < 0:
        got = repr(argv[0]) if count is None else count
        raise UsageError(
            f"{SUBMIT_COMMAND} COUNT must be an integer >= 0 (the number of requests "
            f"to queue), got {got}"
        )
    from oslo_threading_backend.demo import submit as demo_submit

    conf = parse_conf(argv[1:], "oslo_threading_backend")
    ids = demo_submit.submit(conf, count)
    where = os.path.abspath(conf.demo.state_dir)
    if ids:
        print(f"Queued {count} requests ({ids[0]}-{ids[-1]}) in {where}")
    else:
        print(f"Queued no request in {where}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Console script entry point; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv and argv[0] == SUBMIT_COMMAND:
            return submit(argv[1:])
        return run(argv)
    except UsageError as exc:
        sys.stderr.write(f"{PROG}: error: {exc}\n")
        return USAGE_ERROR


if __name__ == "__main__":
    sys.exit(main())
