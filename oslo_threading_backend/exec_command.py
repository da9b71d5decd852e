"""``oslo-threading-exec PROGRAM [ARGS...]``: an unmodified oslo.service program on our backend.

::

    oslo-threading-exec nova-scheduler --config-file /etc/nova/nova.conf
    oslo-threading-exec python3 app.py

In the manner of ``opentelemetry-instrument`` and ``ddtrace-run``: puts a
bootstrap directory first on ``PYTHONPATH`` (keeping what was there), sets a
marker variable, and replaces itself with ``PROGRAM`` (``os.execv``: same
pid, so systemd and the signals sent to it see the program). The bootstrap's
``sitecustomize`` then makes every Python process of the program, its
re-execs and the Python processes it starts answer ``oslo_service.service``,
``threadgroup``, ``loopingcall``, ``periodic_task``, ``systemd``, ``fixture``
and ``oslo_service.backend`` with oslo_threading_backend
(:mod:`oslo_threading_backend.oslo_service_compat`). The exit status is the
program's; before it runs: 2 for a bad command line, 127 for a program that is
not found, 126 for one that cannot be executed (as ``env`` and shells).
"""

from __future__ import annotations

import os
import shutil
import sys
from typing import NoReturn

from oslo_threading_backend._openstack import exec_site as _exec_site
from oslo_threading_backend._processes import glibc_malloc as _glibc_malloc

PROG = _exec_site.PROG
USAGE = f"usage: {PROG} PROGRAM [ARGS...]"

#: "off" (the default): PROGRAM starts with glibc's per-thread malloc caches off;
#: "keep": GLIBC_TUNABLES is left as it is.
TCACHE = "OSLO_THREADING_EXEC_TCACHE"
TCACHE_VALUES = ("off", "keep")

#: Exit statuses of a program that could not be run (those of env(1) and shells).
USAGE_ERROR = 2
CANNOT_EXECUTE = 126
NOT_FOUND = 127

_HELP = f"""\
{USAGE}

Run PROGRAM (looked up on PATH unless it contains a '/') with oslo.service's
service, threadgroup, loopingcall, periodic_task, systemd, fixture and backend
modules answered by oslo_threading_backend: services in cotyledon workers on
native threads, no eventlet. The rest of oslo.service (opts, wsgi, sslutils,
...) stays oslo.service's. Works for every Python process PROGRAM runs, its
re-executions and the Python processes it starts (through PYTHONPATH and
{_exec_site.MARKER}=1 in their environment).

Unless {TCACHE}=keep, PROGRAM starts with glibc's per-thread malloc caches
off (glibc.malloc.tcache_count=0 added to GLIBC_TUNABLES, unless that sets
tcache_count itself): each pool thread's cache holds up to ~240 KB that no
trim reaches.

The top process writes one line to stderr at start, and one at exit if PROGRAM
never imported those modules. The exit status is PROGRAM's; 2 for a bad
command line, 127 if PROGRAM is not found, 126 if it cannot be executed.

examples:
  {PROG} nova-scheduler --config-file /etc/nova/nova.conf
  {PROG} python3 app.py --config-file app.conf
"""


def _fail(message: str, status: int) -> NoReturn:
    _exec_site.say(message)
    sys.exit(status)


def _resolve(program: str) -> str:
    """The file to execute for ``program``, as a shell finds it; exits 126/127 if none."""
    if os.sep in program:
        if not os.path.exists(program):
            _fail(f"{program}: No such file or directory", NOT_FOUND)
        found = program
    else:
        found = shutil.which(program) or ""
        if not found:
            _fail(f"{program}: command not found on PATH", NOT_FOUND)
    if os.path.isdir(found) or not os.access(found, os.X_OK):
        _fail(f"{program}: Permission denied (not an executable file)", CANNOT_EXECUTE)
    return found


def bootstrap_environment(environ: dict[str, str]) -> dict[str, str]:
    """Return ``environ`` with the bootstrap first on PYTHONPATH and the marker set.

    An existing ``PYTHONPATH`` is kept after the bootstrap directory; the top
    process's pid of an enclosing run is dropped, so that PROGRAM is the top
    process of this one.
    """
    env = dict(environ)
    kept = [
        entry
        for entry in env.get("PYTHONPATH", "").split(os.pathsep)
        if not entry or os.path.abspath(entry) != _exec_site.BOOTSTRAP_DIR
    ]
    existing = os.pathsep.join(kept)
    env["PYTHONPATH"] = (
        _exec_site.BOOTSTRAP_DIR + os.pathsep + existing if existing else _exec_site.BOOTSTRAP_DIR
    )
    env[_exec_site.MARKER] = "1"
    env.pop(_exec_site.TOP_PID, None)
    tcache = env.get(TCACHE, "off").strip().lower() or "off"
    if tcache not in TCACHE_VALUES:
        raise ValueError(
            f"{TCACHE} must be one of {', '.join(TCACHE_VALUES)}, not {env[TCACHE]!r}"
        )
    if tcache == "off":
        # Read by glibc at the program's start only: each pool thread's cache of
        # freed small chunks (up to ~240 KB) is out of malloc_trim()'s reach.
        env["GLIBC_TUNABLES"] = _glibc_malloc.with_tcache_off(env.get("GLIBC_TUNABLES", ""))
    return env


def main(argv: list[str] | None = None) -> NoReturn:
    """Console script entry point: exec PROGRAM, or exit 2/126/127 with one line."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in ("-h", "--help"):
        sys.stdout.write(_HELP)
        sys.exit(0)
    if args and args[0] == "--version":
        sys.stdout.write(f"{PROG} (oslo_threading_backend) {_exec_site.version()}\n")
        sys.exit(0)
    if args and args[0] == "--":
        args = args[1:]
    if not args:
        _fail(f"no PROGRAM given; {USAGE}", USAGE_ERROR)
    program = args[0]
    if program.startswith("-") and program != "-":
        _fail(
            f"unknown option {program!r}; {USAGE} (use -- before a PROGRAM named -...)",
            USAGE_ERROR,
        )
    executable = _resolve(program)
    try:
        env = bootstrap_environment(dict(os.environ))
    except ValueError as exc:
        _fail(str(exc), USAGE_ERROR)
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execve(executable, args, env)
    except OSError as exc:
        # Found, but the kernel refused it: a missing interpreter (ENOENT), a
        # format it cannot run (ENOEXEC), no permission.
        status = NOT_FOUND if isinstance(exc, FileNotFoundError) else CANNOT_EXECUTE
        _fail(f"{program}: cannot execute {executable}: {exc.strerror}", status)


if __name__ == "__main__":
    main()
