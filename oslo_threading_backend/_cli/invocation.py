"""The runner's command as the user can type it again, in the shell that started it.

A hint such as "queue more with: oslo-threading-run demo-submit 20" is useless
when ``oslo-threading-run`` is not on PATH (after ``python3 -m venv .venv &&
.venv/bin/pip install .`` it is ``.venv/bin/oslo-threading-run``). This names
the command that started this process: ``python -m oslo_threading_backend``
with this interpreter, or the console script, by the shortest name that finds
the same file from the current directory.
"""

from __future__ import annotations

import os
import shutil
import sys

CONSOLE_SCRIPT = "oslo-threading-run"
MAIN_MODULE = "oslo_threading_backend"


def _typed(path: str) -> str:
    """``path`` as typed: its bare name if PATH finds this very file, else relative or absolute.

    Symlinks are not followed: a venv's ``bin/python`` links to the system
    interpreter but is not the same command. Inside a virtual environment the
    bare name is found only while the venv is activated, which a second
    terminal is not: the path is named then.
    """
    path = os.path.abspath(path)
    name = os.path.basename(path)
    found = shutil.which(name)
    if found and os.path.abspath(found) == path and sys.prefix == sys.base_prefix:
        return name
    relative = os.path.relpath(path)
    return path if relative.startswith(os.pardir) else relative


def runner_command() -> list[str]:
    """The argv prefix that runs the runner again: console script or ``python -m``."""
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    argv0 = sys.argv[0] if sys.argv else ""
    if spec is None and os.path.basename(argv0) == CONSOLE_SCRIPT and os.path.isfile(argv0):
        return [_typed(argv0)]
    if sys.executable:
        return [_typed(sys.executable), "-m", MAIN_MODULE]
    return ["python3", "-m", MAIN_MODULE]
