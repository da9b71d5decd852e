"""Answer oslo.service's imports with this package, for programs written against oslo.service.

After :func:`install`, ``import oslo_service.service`` and ``from oslo_service
import service`` give :mod:`oslo_threading_backend.service` (the same module
object), and likewise for ``threadgroup``, ``loopingcall``, ``periodic_task``,
``systemd`` and ``fixture``. ``oslo_service.backend`` answers with this
package's backend registry (``init_backend``, ``get_backend``,
``get_backend_type``, ``get_component``, ``BackendType``, ...) and
``oslo_service.backend.exceptions`` with its exceptions. Everything else of
oslo.service (``opts``, ``_options``, ``wsgi``, ``sslutils``,
``oslo_service.backend.base``, ...) stays oslo.service's, so oslo.service
4.x must be installed.

The aliases are made by a :data:`sys.meta_path` finder, at the first import
of each name, so installing costs nothing until the program imports
oslo.service, and a program that never does is left alone. The first answered
import selects the threading backend (which blocks eventlet from then on).
``oslo-threading-exec`` calls :func:`install` in every Python process of the
program it runs; a program can also call it first thing in its entry point,
and a consumer's test suite in its ``conftest.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import threading
import types
from typing import Any

from oslo_threading_backend._openstack import oslo_service_classes as _oslo_service_classes
from oslo_threading_backend._openstack import wsgi_import as _wsgi_import

__all__ = ["ALIASES", "AlreadyImportedError", "answered", "install", "is_installed"]

#: oslo.service module -> the module of this package that answers it.
ALIASES: dict[str, str] = {
    "oslo_service.service": "oslo_threading_backend.service",
    "oslo_service.threadgroup": "oslo_threading_backend.threadgroup",
    "oslo_service.loopingcall": "oslo_threading_backend.loopingcall",
    "oslo_service.periodic_task": "oslo_threading_backend.periodic_task",
    "oslo_service.systemd": "oslo_threading_backend.systemd",
    "oslo_service.fixture": "oslo_threading_backend.fixture",
}

_BACKEND = "oslo_service.backend"
_BACKEND_EXCEPTIONS = "oslo_service.backend.exceptions"
_OURS_BACKEND = "oslo_threading_backend.backend"

#: The names oslo_service.backend.exceptions defines; ours have the same meaning.
_EXCEPTION_NAMES = (
    "BackendAlreadySelected",
    "BackendComponentNotAvailable",
    "UnsupportedBackendError",
)

#: Private state of oslo_service.backend that code (tests mostly) reads directly.
_BACKEND_STATE = ("_cached_backend", "_cached_backend_type", "_cached_components", "_backend_hook")

_lock = threading.Lock()
_finder: _OsloServiceFinder | None = None
_answered: list[str] = []


class AlreadyImportedError(RuntimeError):
    """install() came too late: oslo.service's own modules are imported already."""


def _why_threading() -> str:
    return (
        "oslo_service.* is answered here by oslo_threading_backend, which runs services on "
        "native threads only; it was installed by oslo-threading-exec or "
        "oslo_threading_backend.oslo_service_compat.install()"
    )


def _select_threading(fullname: str) -> None:
    backend = importlib.import_module(_OURS_BACKEND)
    try:
        backend.init_backend(backend.BackendType.THREADING)
    except (RuntimeError, backend.BackendAlreadySelected) as exc:
        raise type(exc)(f"import of {fullname!r}: {_why_threading()}; {exc}") from exc


def _init_backend(type_: Any) -> None:
    """oslo_service.backend.init_backend(): ours, with a message that says why threading."""
    backend = importlib.import_module(_OURS_BACKEND)
    try:
        backend.init_backend(type_)
    except backend.BackendAlreadySelected as exc:
        raise backend.BackendAlreadySelected(f"{exc}: {_why_threading()}") from None


class _BackendModule(types.ModuleType):
    """``oslo_service.backend``: our registry's names, oslo.service's submodules.

    A package whose ``__path__`` is oslo.service's ``backend`` directory, so that
    ``oslo_service.backend.base`` (and ``_common``, ``_eventlet``) still import;
    every other name is read from :mod:`oslo_threading_backend.backend` at each
    access, so its state (``_cached_backend_type``, ...) is never a stale copy.
    """

    def __getattr__(self, name: str) -> Any:
        if name == "init_backend":
            return _init_backend
        backend = sys.modules.get(_OURS_BACKEND) or importlib.import_module(_OURS_BACKEND)
        if name in backend.__all__ or name in _BACKEND_STATE or name == "_reset_backend":
            return getattr(backend, name)
        raise AttributeError(f"module {self.__name__!r} has no attribute {name!r}")

    def __dir__(self) -> list[str]:
        backend = importlib.import_module(_OURS_BACKEND)
        return sorted(set(super().__dir__()) | set(backend.__all__) | set(_BACKEND_STATE))


class _AliasLoader(importlib.abc.Loader):
    """Loads an oslo.service name as the module of ours that answers it."""

    def __init__(self) -> None:
        self._own_specs: dict[str, importlib.machinery.ModuleSpec | None] = {}

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        name = spec.name
        _select_threading(name)
        if name == _BACKEND:
            module: types.ModuleType = _BackendModule(name)
            module.__all__ = [  # type: ignore[attr-defined]
                "get_component",
                "init_backend",
                "BackendType",
                "register_backend_default_hook",
                "get_backend_type",
                "get_backend",
            ]
        elif name == _BACKEND_EXCEPTIONS:
            backend = importlib.import_module(_OURS_BACKEND)
            module = types.ModuleType(name, "oslo_threading_backend.backend's exceptions")
            for exc_name in _EXCEPTION_NAMES:
                setattr(module, exc_name, getattr(backend, exc_name))
        else:
            module = importlib.import_module(ALIASES[name])
            # The import system sets __spec__ on whatever create_module() returns:
            # keep ours so that our module still knows its own name.
            self._own_specs[name] = module.__spec__
        return module

    def exec_module(self, module: types.ModuleType) -> None:
        name = module.__spec__.name if module.__spec__ is not None else None
        if name is None:
            return
        _record(name)
        if name in self._own_specs:
            module.__spec__ = self._own_specs.pop(name)
        elif name == _BACKEND:
            # Submodules imported before install() (oslo_service.backend.base, by our
            # _service_base) stay in sys.modules: make them attributes again.
            prefix = name + "."
            for sub_name, sub in list(sys.modules.items()):
                child = sub_name[len(prefix) :]
                if sub_name.startswith(prefix) and "." not in child and sub is not None:
                    setattr(module, child, sub)
            # oslo.service's backend package imports its exceptions module, and
            # code reads it as an attribute (backend.exceptions.BackendAlreadySelected).
            importlib.import_module(_BACKEND_EXCEPTIONS)


def _record(name: str) -> None:
    with _lock:
        if name not in _answered:
            _answered.append(name)


class _OsloServiceFinder(importlib.abc.MetaPathFinder):
    """Meta path finder answering :data:`ALIASES`, ``oslo_service.backend`` and its exceptions."""

    def __init__(self) -> None:
        self.loader = _AliasLoader()

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None = None,
        target: types.ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname in ALIASES:
            origin = f"{ALIASES[fullname]} (oslo_threading_backend.oslo_service_compat)"
            return importlib.machinery.ModuleSpec(fullname, self.loader, origin=origin)
        if fullname == _BACKEND_EXCEPTIONS:
            origin = f"{_OURS_BACKEND} exceptions (oslo_threading_backend.oslo_service_compat)"
            return importlib.machinery.ModuleSpec(fullname, self.loader, origin=origin)
        if fullname == _BACKEND:
            original = importlib.machinery.PathFinder.find_spec(fullname, path)
            if original is None or original.submodule_search_locations is None:
                return None  # not oslo.service 4.x: let the import fail as it would
            spec = importlib.machinery.ModuleSpec(
                fullname,
                self.loader,
                origin=f"{_OURS_BACKEND} (oslo_threading_backend.oslo_service_compat)",
                is_package=True,
            )
            spec.submodule_search_locations = list(original.submodule_search_locations)
            return spec
        return None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} answering oslo_service.* with oslo_threading_backend>"


def _originals_imported() -> list[str]:
    names = [*ALIASES, _BACKEND, _BACKEND_EXCEPTIONS]
    found = []
    for name in names:
        module = sys.modules.get(name)
        if module is None:
            continue
        spec = getattr(module, "__spec__", None)
        if spec is None or not isinstance(spec.loader, _AliasLoader):
            if name in ALIASES and module is sys.modules.get(ALIASES[name]):
                continue  # ours, aliased by an earlier install()
            found.append(name)
    return found


def _replaceable(already: list[str]) -> bool:
    """Whether what was imported is only an oslo_service.backend nobody selected with.

    This package's ServiceBase registers itself with ``oslo_service.backend.base``
    when oslo.service is installed, which imports ``oslo_service.backend`` (and
    its ``exceptions``); until a backend is selected through it, nothing depends
    on that module and ours can take its place. Likewise the modules our
    exceptions took their oslo.service base classes from (``periodic_task``),
    when nothing but this package imported them.
    """
    original = sys.modules.get(_BACKEND)
    return (
        bool(already)
        and set(already) <= {_BACKEND, _BACKEND_EXCEPTIONS} | _oslo_service_classes.imported_here
        and original is not None
        and getattr(original, "_cached_backend_type", None) is None
    )


def install() -> None:
    """Answer oslo.service's ``service``, ``threadgroup``, ... imports with this package.

    Call it before anything imports those modules: first thing in a program's
    entry point, or in a test suite's ``conftest.py``. (An
    ``oslo_service.backend`` imported but not used to select a backend, as
    importing this package's modules does, is replaced.) It holds for the whole
    process (there is no uninstall: modules that imported ours keep them).
    Calling it again is a no-op. The threading backend is selected at the
    first import it answers.

    :raises ImportError: oslo.service is not installed.
    :raises AlreadyImportedError: some of those modules were already imported as
        oslo.service's own; they are named in the message.
    """
    global _finder
    # Before anything imports oslo_service.wsgi: without eventlet, whichever comes first.
    _wsgi_import.install()
    with _lock:
        if _finder is not None and _finder in sys.meta_path:
            return
        if importlib.util.find_spec("oslo_service") is None:
            raise ImportError(
                "oslo_service_compat.install() answers oslo.service's modules, but "
                "oslo.service is not installed (pip install 'oslo.service>=4.8')",
                name="oslo_service",
            )
        already = _originals_imported()
        if _replaceable(already):
            package = sys.modules.get("oslo_service")
            for name in already:
                del sys.modules[name]
                child = name.split(".")[1]
                if package is not None and child in vars(package):
                    delattr(package, child)  # set again to ours at its next import
            already = []
        if already:
            raise AlreadyImportedError(
                f"{', '.join(already)} already imported as oslo.service's own "
                f"module{'s' if len(already) > 1 else ''}: call "
                "oslo_threading_backend.oslo_service_compat.install() before anything "
                "imports them (first lines of the entry point, or conftest.py), or run "
                "the program under oslo-threading-exec"
            )
        _finder = _OsloServiceFinder()
        sys.meta_path.insert(0, _finder)


def is_installed() -> bool:
    """Return whether install() is in effect in this process."""
    with _lock:
        return _finder is not None and _finder in sys.meta_path


def answered() -> list[str]:
    """The oslo.service module names answered by this package so far, in import order."""
    with _lock:
        return list(_answered)
