"""``import oslo_service.wsgi`` on native threads: the module imports, its eventlet server refuses.

oslo.service 4.8's ``oslo_service/wsgi.py`` imports ``eventlet``, ``eventlet.wsgi``
and ``greenlet`` at module level for its ``Server`` only (``Loader``, ``Router``,
``Request`` need none of them). Once the threading backend blocks eventlet
(:mod:`._openstack.eventlet_guard`), a module that merely imported
``oslo_service.wsgi`` (or a test that patches ``oslo_service.wsgi.Server``) died
at import, where oslo.service's own threading backend imports it and refuses
only ``Server()``.

:class:`WsgiFinder` loads oslo.service's own ``wsgi.py`` with those three
names bound to :class:`Unavailable` placeholders, through an ``__import__`` of
the module's own: nothing is added to ``sys.modules``, eventlet is not
imported, and every other importer still gets the eventlet block. ``Server()``
raises oslo.service's ``UnsupportedBackendError`` (the class that module
imported) saying what to use instead; anything else that reaches eventlet
through the placeholders raises it too.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable
from collections.abc import Sequence
import importlib.abc
import importlib.machinery
import sys
import threading
import types
from typing import Any

MODULE = "oslo_service.wsgi"

#: The top-level names oslo_service.wsgi imports for its eventlet server only.
PLACEHOLDERS = ("eventlet", "greenlet")

INSTEAD = (
    "oslo_service.wsgi.Server is an eventlet WSGI server, and this service runs on native "
    "threads (oslo_threading_backend's threading backend), where eventlet is not loaded: "
    "serve the WSGI application with a standalone WSGI server instead (uWSGI, mod_wsgi, "
    "gunicorn), as oslo.service's threading backend requires; oslo_service.wsgi.Loader, "
    "Router and Request still work"
)


class Unavailable:
    """Stands for eventlet (or greenlet) inside oslo_service.wsgi: any use raises."""

    def __init__(self, name: str, error: Callable[[], type[Exception]]) -> None:
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "_error", error)  # looked up when raised

    def __getattr__(self, attr: str) -> Unavailable:
        if attr.startswith("__") and attr.endswith("__"):
            raise AttributeError(attr)  # copy, pickle, inspect probe these
        return Unavailable(f"{self._name}.{attr}", self._error)

    def __setattr__(self, attr: str, value: object) -> None:
        raise self._error()(f"{self._name}.{attr} cannot be set: {INSTEAD}")

    def __call__(self, *args: object, **kwargs: object) -> Any:
        raise self._error()(f"{self._name}() cannot be called: {INSTEAD}")

    def __repr__(self) -> str:
        return f"<{self._name}: not loaded (native threads)>"


def _unsupported_backend_error(namespace: dict[str, Any]) -> type[Exception]:
    found = namespace.get("UnsupportedBackendError")
    if isinstance(found, type) and issubclass(found, Exception):
        return found
    # Not imported here (backend imports the eventlet guard, which imports this).
    ours = getattr(
        sys.modules.get("oslo_threading_backend.backend"), "UnsupportedBackendError", None
    )
    return ours if isinstance(ours, type) else RuntimeError


class _Loader(importlib.abc.Loader):
    """Executes oslo.service's own wsgi.py with the placeholders for eventlet and greenlet."""

    def __init__(self, original: importlib.machinery.ModuleSpec) -> None:
        self._original = original

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> None:
        return None  # the default module

    def exec_module(self, module: types.ModuleType) -> None:
        source_loader = self._original.loader
        code = source_loader.get_code(MODULE)  # type: ignore[union-attr]
        namespace = module.__dict__

        def error() -> type[Exception]:
            # The class the module imported (it imports eventlet before it).
            return _unsupported_backend_error(namespace)

        own_builtins = dict(vars(builtins))
        real_import = builtins.__import__

        def module_import(
            name: str,
            globals: dict[str, Any] | None = None,
            locals: dict[str, Any] | None = None,
            fromlist: Sequence[str] | None = (),
            level: int = 0,
        ) -> Any:
            top = name.partition(".")[0]
            if level == 0 and top in PLACEHOLDERS:
                root = Unavailable(top, error)
                if not fromlist:
                    return root
                target = root
                for part in name.split(".")[1:]:
                    target = getattr(target, part)
                return target
            return real_import(name, globals, locals, fromlist, level)

        own_builtins["__import__"] = module_import
        namespace["__builtins__"] = own_builtins
        exec(code, namespace)
        _refuse_server(namespace, error())


def _refuse_server(namespace: dict[str, Any], error: type[Exception]) -> None:
    """``Server()`` raises at once, whatever backend oslo.service's own registry reports."""

    def _check_backend_compatibility() -> None:
        raise error(INSTEAD)

    _check_backend_compatibility.__module__ = MODULE
    if "_check_backend_compatibility" in namespace:
        namespace["_check_backend_compatibility"] = _check_backend_compatibility
    server = namespace.get("Server")
    if isinstance(server, type) and "_check_backend_compatibility" not in namespace:
        # Another oslo.service: refuse at the constructor.
        original_init = server.__init__

        def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
            _check_backend_compatibility()
            original_init(self, *args, **kwargs)  # pragma: no cover

        server.__init__ = __init__


class WsgiFinder(importlib.abc.MetaPathFinder):
    """Answers ``oslo_service.wsgi`` with oslo.service's module, eventlet left out.

    Steps aside (the ordinary import runs) when eventlet is really imported
    already: then the module is exactly oslo.service's, as under its threading
    backend.
    """

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None = None,
        target: types.ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != MODULE or sys.modules.get("eventlet") is not None:
            return None
        original = importlib.machinery.PathFinder.find_spec(fullname, path)
        if original is None or not isinstance(
            original.loader, importlib.machinery.SourceFileLoader
        ):
            return None  # not a source file we can run: the import goes as it would
        spec = importlib.machinery.ModuleSpec(fullname, _Loader(original), origin=original.origin)
        spec.has_location = True
        return spec

    def __repr__(self) -> str:
        return f"<{type(self).__name__} importing {MODULE} without eventlet>"


_lock = threading.Lock()
_finder = WsgiFinder()


def install() -> None:
    """Answer later imports of ``oslo_service.wsgi``; idempotent."""
    with _lock:
        if _finder not in sys.meta_path:
            sys.meta_path.insert(0, _finder)


def remove() -> None:
    """Stop answering it (for tests); a module imported meanwhile stays."""
    with _lock:
        while _finder in sys.meta_path:
            sys.meta_path.remove(_finder)


def is_installed() -> bool:
    with _lock:
        return _finder in sys.meta_path
