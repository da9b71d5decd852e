"""The runner's command line: its flags, its ``--help``, and one-line usage errors.

The runner's own flags are parsed here; the rest of the command line goes to
oslo.config, whose argparse would print its own 9-line usage (which knows
nothing of ``--workers``) on a bad option: :func:`parse_conf` turns that into a
:class:`UsageError` too, so every command line the runner cannot act on is
reported as one line.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import re
import shlex
import sys
from typing import NoReturn

from oslo_config import cfg
from oslo_log import log as logging

PROG = "oslo-threading-run"
DEFAULT_TARGET = "oslo_threading_backend.demo.scheduler:create_service"
DEFAULT_WORKERS = 2
SUBMIT_COMMAND = "demo-submit"

#: Exit status of a command line the runner cannot act on (as argparse uses).
USAGE_ERROR = 2

#: What a MODULE:FACTORY target looks like (to recognise one out of place).
_TARGET_RE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")

_DESCRIPTION = """\
Run a service in forked worker processes on native threads (no eventlet).
MODULE:FACTORY names a callable that takes the parsed oslo.config ConfigOpts and
returns an oslo_threading_backend.service.ServiceBase; MODULE is imported from
the current directory too. Without it, the demo scheduler runs. The exit status
is the launcher's: 0 after a graceful stop, 1 after SIGINT or an exceeded
graceful_shutdown_timeout, 2 for a bad command line.
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
  SIGUSR2  log a thread dump of the process that receives it (master or
           worker; [DEFAULT] thread_dump_signal names another signal or none)
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
        default=None,
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

    MODULE:FACTORY, if given, comes first, as in the usage line. ``workers`` is
    1 with ``--no-fork`` unless ``--workers`` was given.
    """
    target = None
    if argv and not argv[0].startswith("-"):
        target, argv = argv[0], argv[1:]
    args, rest = build_parser().parse_known_args(argv)
    args.target = target or DEFAULT_TARGET
    if args.workers is None:
        args.workers = 1 if args.no_fork else DEFAULT_WORKERS
    return args, rest


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


def help_text() -> str:
    """``--help``: the runner's usage, options and signals, then oslo.config's options."""
    return build_parser().format_help() + "\n" + oslo_config_help()


def parse_conf(rest: list[str], project: str, argv: list[str] | None = None) -> cfg.ConfigOpts:
    """A ConfigOpts with oslo.log's options, parsed from ``rest``.

    A bad option or config file is a one-line UsageError; ``argv`` (the whole
    command line) lets the message show where a misplaced target belongs.
    """
    conf = cfg.ConfigOpts()
    logging.register_options(conf)
    stderr = io.StringIO()
    try:
        # oslo.config's argparse prints its usage before exiting on a bad
        # option: hold its stderr and keep only its "error:" line.
        with contextlib.redirect_stderr(stderr):
            conf(rest, project=project, prog=PROG)
    except SystemExit as exc:
        raise UsageError(_usage_message(stderr.getvalue(), exc, argv)) from None
    except cfg.Error as exc:
        sys.stderr.write(stderr.getvalue())
        raise UsageError(" ".join(str(exc).split())) from None
    sys.stderr.write(stderr.getvalue())
    return conf


def _usage_message(output: str, exc: SystemExit, argv: list[str] | None) -> str:
    """The message of argparse's ``PROG: error: MESSAGE`` line, with a hint."""
    prefix = f"{PROG}: error: "
    errors = [line[len(prefix) :] for line in output.splitlines() if line.startswith(prefix)]
    if not errors:
        message = output.strip().splitlines()[-1] if output.strip() else f"exit status {exc.code}"
        return f"cannot parse the command line: {message}"
    message = errors[-1]
    unknown = message.removeprefix("unrecognized arguments: ")
    if unknown == message:
        return f"{message} (see {PROG} --help)"
    targets = [arg for arg in unknown.split() if _TARGET_RE.match(arg)]
    if targets and argv is not None and targets[0] in argv:
        moved = [targets[0], *(arg for arg in argv if arg != targets[0])]
        return f"{message}: MODULE:FACTORY must come first, as in: {shlex.join([PROG, *moved])}"
    return f"{message} (see {PROG} --help for the options)"
