"""oslo-threading-exec's bootstrap: Python runs it at start-up, nobody imports it.

``oslo-threading-exec`` puts this directory first on ``PYTHONPATH``, so every
Python process of the program it runs imports this ``sitecustomize`` at
start-up. With the marker variable set it answers oslo.service's imports with
oslo_threading_backend (:func:`oslo_threading_backend._openstack.exec_site.start`);
then it runs the ``sitecustomize`` that Python would have run without it (the
next one on ``sys.path``), so an existing one keeps working.

This directory holds nothing else (its ``__init__.py`` is for packaging):
everything in it is importable by the program.
"""

import importlib.machinery
import importlib.util
import os
import sys


def _bootstrap():
    if os.environ.get("OSLO_THREADING_EXEC") != "1":
        return
    try:
        from oslo_threading_backend._openstack import exec_site as _exec_site
    except Exception as exc:
        # Another interpreter than the one oslo_threading_backend is installed in.
        # Said once, by the first such process (its children inherit the pid).
        if not os.environ.get("OSLO_THREADING_EXEC_TOP_PID"):
            os.environ["OSLO_THREADING_EXEC_TOP_PID"] = str(os.getpid())
            sys.stderr.write(
                f"oslo-threading-exec: not answering oslo_service.* in pid {os.getpid()} "
                f"({sys.executable}): oslo_threading_backend cannot be imported: {exc}\n"
            )
        return
    _exec_site.start()


_MARK = "oslo-threading-exec's bootstrap"


def _is_bootstrap(origin):
    # This file, or another copy of it (a second install's oslo-threading-exec
    # nested in this one's): chaining to one of those would recurse without end.
    try:
        with open(origin, encoding="utf-8", errors="replace") as source:
            return _MARK in source.read(200)
    except OSError:
        return False


def _chain():
    path = list(sys.path)
    while True:
        spec = importlib.machinery.PathFinder.find_spec("sitecustomize", path)
        if spec is None or spec.loader is None:
            return
        if spec.origin and _is_bootstrap(spec.origin):
            where = os.path.dirname(os.path.abspath(spec.origin))
            path = [entry for entry in path if os.path.abspath(entry or os.curdir) != where]
            continue
        module = importlib.util.module_from_spec(spec)
        sys.modules["sitecustomize"] = module
        spec.loader.exec_module(module)
        return


try:
    _bootstrap()
finally:
    _chain()  # whatever _bootstrap() did, the program's own sitecustomize runs
