"""What ``oslo-threading-exec`` does inside each Python process of the program it runs.

The console script (:mod:`oslo_threading_backend.exec_command`) puts
:data:`BOOTSTRAP_DIR` first on ``PYTHONPATH`` and sets :data:`MARKER`; the
``sitecustomize`` there calls :func:`start` at interpreter start-up, in the
program and in every Python process it starts (the environment is inherited),
and after the program re-executes itself. :func:`start` installs
:mod:`oslo_threading_backend.oslo_service_compat`.

The *top* process is the first Python process of the run: it claims the role
by putting its pid in :data:`TOP_PID` (which its children inherit; a re-exec
keeps the pid). Only it writes the start line, and at its exit, if the program
neither imported an oslo.service module this package answers nor selected one
of its backends directly, a line saying so. Both lines go to stderr: the
program has not configured logging yet when the first is written, nor any
more when the second is.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sys

PROG = "oslo-threading-exec"

#: Set by the console script: the bootstrap sitecustomize acts only when it is "1".
MARKER = "OSLO_THREADING_EXEC"
#: The pid of the run's top process, set by that process itself.
TOP_PID = "OSLO_THREADING_EXEC_TOP_PID"

#: The directory holding the bootstrap ``sitecustomize.py``.
BOOTSTRAP_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "exec_bootstrap")

_ANSWERED = "oslo_service.{service,threadgroup,loopingcall,periodic_task,systemd,fixture,backend}"


def say(message: str) -> None:
    """One line on stderr, prefixed with the command's name; never raises."""
    # A closed or broken stderr must not change the program's fate.
    with contextlib.suppress(Exception):
        sys.stderr.write(f"{PROG}: {message}\n")
        sys.stderr.flush()


def version() -> str:
    """This package's version, or 'unknown' when it runs from a source tree."""
    from importlib import metadata

    try:
        return metadata.version("oslo_threading_backend")
    except metadata.PackageNotFoundError:
        return "unknown"


def _claim_top() -> tuple[bool, bool]:
    """Return (is the top process, claimed just now)."""
    pid = os.getpid()
    current = os.environ.get(TOP_PID, "")
    if current == str(pid):
        return True, False  # the top process re-executed itself
    if current:
        return False, False
    os.environ[TOP_PID] = str(pid)
    return True, True


def _at_exit(top_pid: int) -> None:
    if os.getpid() != top_pid:
        return  # a forked worker inherited this handler
    from oslo_threading_backend import oslo_service_compat

    if oslo_service_compat.answered():
        return
    backend = sys.modules.get("oslo_threading_backend.backend")
    if backend is not None and backend.get_backend_type() is not None:
        return  # the program uses this package directly
    argv0 = sys.argv[0] if sys.argv else ""
    program = f"{sys.executable} {argv0}" if argv0 in ("", "-c", "-m") else argv0
    say(
        f"{program} (pid {top_pid}) never imported any of {_ANSWERED}: "
        "oslo_threading_backend was not used"
    )


_started = False


def start() -> None:
    """Install the oslo.service aliases in this process; the top one also says so.

    Never raises: when they cannot be installed the program runs as it would
    without ``oslo-threading-exec``, after one line saying why. Once per process
    (two bootstrap directories on PYTHONPATH both call it).
    """
    global _started
    if _started:
        return
    _started = True
    top, claimed = _claim_top()
    from oslo_threading_backend import oslo_service_compat

    try:
        oslo_service_compat.install()
    except Exception as exc:
        if claimed:
            say(f"not answering oslo_service.* in pid {os.getpid()} ({sys.executable}): {exc}")
        return
    # The application's own futurist pools, made before launch(), are fixed too.
    from oslo_threading_backend._upstream import futurist_fixes

    futurist_fixes.apply_at_import()
    if claimed:
        say(
            f"{_ANSWERED} answered by oslo_threading_backend {version()} (threading "
            f"backend: native threads, no eventlet) in pid {os.getpid()} and its children"
        )
    if top:
        atexit.register(_at_exit, os.getpid())
