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
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import logging as std_logging
import os
import signal
import sys
from typing import TYPE_CHECKING
from typing import Any
from typing import NoReturn

from oslo_config import cfg
from oslo_log import log as logging

from oslo_threading_backend import backend

if TYPE_CHECKING:
    from oslo_threading_backend import service

# oslo_threading_backend.service is imported only once the backend is selected:
# importing it settles the backend (the default, threading) so that futurist
# does not import eventlet, which would leave the config's choice unheard.

LOG = logging.getLogger(__name__)

PROG = "oslo-threading-run"
DEFAULT_TARGET = "oslo_threading_backend.demo.scheduler:create_service"
DEFAULT_WORKERS = 2
SUBMIT_COMMAND = "demo-submit"

#: Exit status of a command line the runner cannot act on (as argparse uses).
USAGE_ERROR = 2

_DESCRIPTION = """\
Run a service in forked worker processes on native threads (no eventlet).
MODULE:FACTORY names a callable that takes the parsed oslo.config ConfigOpts and
returns an oslo_threading_backend.service.ServiceBase. Without it, the demo
scheduler runs. The exit status is the launcher's: 0 after a graceful stop,
1 after SIGINT or an exceeded graceful_shutdown_timeout, 2 for a bad command line.
"""

_EPILOG = f"""\
signals (send them to the master, the process this command starts):
  SIGTERM  graceful stop: every worker stops its service and waits for it, all
           bounded by [DEFAULT] graceful_shutdown_timeout (60 s; 0 waits
           forever); what is left then is killed and the exit status is 1
  SIGINT   immediate exit (Ctrl-C), status 1
  SIGHUP   reload the config files in the master and in every worker (with
           --restart-method mutate: apply the mutable options only), then
           reset each service ('reload' also stops and starts it again)
  SIGKILL  sent to a worker: the master starts a new worker with its number

the demo:
  {PROG}                   the demo scheduler: 2 workers, state in ./demo-state
  {PROG} {SUBMIT_COMMAND} 20    queue 20 scheduling requests for it, then exit
  python -m oslo_threading_backend ...  the same as {PROG} ...
"""


class UsageError(Exception):
    """A command line the runner cannot act on: one line on stderr, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, not {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, not {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The runner's own flags; ``parse_known_args`` leaves the rest to oslo.config."""
    parser = _Parser(
        prog=PROG,
        usage=(
            f"{PROG} [MODULE:FACTORY] [--workers N] [--no-fork] "
            "[--restart-method {reload,mutate}]\n"
            f"{' ' * (len(PROG) + 8)}[--config-file FILE ...] [--config-dir DIR] "
            "[oslo.config and oslo.log options]\n"
            f"       {PROG} {SUBMIT_COMMAND} COUNT [oslo.config options]"
        ),
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        add_help=False,
        allow_abbrev=False,  # "--log" must reach oslo.config, not become "--log..." here
    )
    own = parser.add_argument_group("runner options")
    own.add_argument("-h", "--help", action="store_true", help="show this help and exit")
    own.add_argument(
        "--workers",
        type=_positive_int,
        default=DEFAULT_WORKERS,
        metavar="N",
        help=f"worker processes to fork (default: {DEFAULT_WORKERS})",
    )
    own.add_argument(
        "--no-fork",
        action="store_true",
        help="run one instance of the service in this process, no workers; "
        "the signals mean the same",
    )
    own.add_argument(
        "--restart-method",
        choices=("reload", "mutate"),
        default="reload",
        help="what SIGHUP does: 'reload' re-reads the config files and restarts "
        "the services, 'mutate' applies the changed mutable options and resets "
        "them (default: reload)",
    )
    return parser


def parse_args(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    """Split the command line: (the runner's flags and target, the rest for oslo.config).

    MODULE:FACTORY, if given, comes first, as in the usage line.
    """
    target = DEFAULT_TARGET
    if argv and not argv[0].startswith("-"):
        target, argv = argv[0], argv[1:]
    args, rest = build_parser().parse_known_args(argv)
    args.target = target
    return args, rest


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


def make_service(target: str, factory: Any, conf: cfg.ConfigOpts) -> service.ServiceBase:
    """``factory(conf)``, checked to be a ServiceBase (UsageError otherwise)."""
    from oslo_threading_backend import service

    svc = factory(conf)
    if not isinstance(svc, service.ServiceBase):
        raise UsageError(
            f"{target}(conf) returned {type(svc).__name__} {svc!r}, not an "
            "oslo_threading_backend.service.ServiceBase"
        )
    return svc


def _project(target: str) -> str:
    """oslo.config's project: the target's top package (names the default config files)."""
    return target.partition(":")[0].split(".")[0] or "oslo_threading_backend"


def parse_conf(rest: list[str], project: str) -> cfg.ConfigOpts:
    """A ConfigOpts with oslo.log's options, parsed from ``rest``."""
    conf = cfg.ConfigOpts()
    logging.register_options(conf)
    try:
        conf(rest, project=project, prog=PROG)
    except cfg.Error as exc:
        raise UsageError(str(exc).strip()) from None
    return conf


def setup_logging(conf: cfg.ConfigOpts, project: str) -> None:
    logging.setup(conf, project)
    std_logging.captureWarnings(True)


def _select_threading_backend(conf: cfg.ConfigOpts) -> None:
    try:
        chosen = backend.select_backend(conf=conf, default=backend.BackendType.THREADING)
    except (
        backend.BackendAlreadySelected,
        backend.BackendNotAvailable,
        RuntimeError,
        ValueError,
    ) as exc:
        raise UsageError(f"cannot select the threading backend: {exc}") from None
    if chosen is not backend.BackendType.THREADING:
        raise UsageError(
            f"{PROG} runs services on native threads, but [DEFAULT] concurrency_backend "
            f"chose {chosen.value!r}"
        )


def oslo_config_help() -> str:
    """The options section of oslo.config's own --help (config files and oslo.log)."""
    conf = cfg.ConfigOpts()
    logging.register_options(conf)
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
        conf(["--help"], prog=PROG, project="oslo_threading_backend")
    text = out.getvalue()
    for header in ("options:", "optional arguments:"):
        if header in text:
            text = text[text.index(header) + len(header) :]
            break
    # Its -h/--help line is the runner's own, shown above.
    lines = [line for line in text.rstrip().splitlines() if not line.startswith("  -h, --help")]
    return "oslo.config and oslo.log options:" + "\n".join(lines) + "\n"


def run(argv: list[str]) -> int:
    """Run ``MODULE:FACTORY`` until it stops; returns the exit status."""
    args, rest = parse_args(argv)
    if args.help:
        sys.stdout.write(build_parser().format_help() + "\n" + oslo_config_help())
        return 0
    # Until the launcher's own handlers are in place (the master's, or the
    # no_fork runner's), SIGTERM ends the start-up cleanly instead of killing.
    signal.signal(signal.SIGTERM, _stop_before_start)
    try:
        project = _project(args.target)
        conf = parse_conf(rest, project)
        setup_logging(conf, project)
        _select_threading_backend(conf)
        factory = load_factory(args.target)
        try:
            svc = make_service(args.target, factory, conf)
        except UsageError:
            raise
        except Exception as exc:
            LOG.debug("%s(conf) failed", args.target, exc_info=True)
            sys.stderr.write(
                f"{PROG}: error: {args.target}(conf) failed: {type(exc).__name__}: {exc}\n"
            )
            return 1
        from oslo_threading_backend import service

        launcher = service.launch(
            conf,
            svc,
            workers=args.workers,
            restart_method=args.restart_method,
            no_fork=args.no_fork,
        )
        return launcher.wait()
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
    if not argv or argv[0].startswith("-"):
        raise UsageError(f"{SUBMIT_COMMAND} needs COUNT, the number of requests to queue")
    try:
        count = int(argv[0])
    except ValueError:
        count = -1
    if count < 0:
        raise UsageError(f"{SUBMIT_COMMAND} COUNT must be an integer >= 0, not {argv[0]!r}")
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
