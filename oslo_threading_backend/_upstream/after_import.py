"""Run a callback right after a module is first imported, before its importer sees it.

Our fixes of upstream libraries must reach the classes of a module the
application imports later, maybe before anything of ours runs again: a
meta-path finder wraps that one module's loader, and the callback patches the
module as soon as its code has run. A module already imported gets the
callback at once. One hook per module name; it removes itself once used.
"""

from __future__ import annotations

from collections.abc import Callable
import importlib.abc
import importlib.machinery
import sys
import threading
import types
from typing import Any

Callback = Callable[[types.ModuleType], Any]

_lock = threading.Lock()
_waiting: dict[str, list[Callback]] = {}


class _CallingLoader(importlib.abc.Loader):
    """The module's own loader, then the callbacks waiting for it."""

    def __init__(self, loader: importlib.abc.Loader) -> None:
        self._loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: types.ModuleType) -> None:
        self._loader.exec_module(module)
        with _lock:
            callbacks = _waiting.pop(module.__name__, [])
            _uninstall_if_idle()
        for callback in callbacks:
            callback(module)


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(
        self, fullname: str, path: Any = None, target: types.ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in _waiting:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None:
            return None
        spec.loader = _CallingLoader(spec.loader)
        return spec


_finder = _Finder()


def _uninstall_if_idle() -> None:
    if not _waiting:
        while _finder in sys.meta_path:
            sys.meta_path.remove(_finder)


def call_after_import(name: str, callback: Callback) -> bool:
    """Call ``callback(module)`` once ``name`` is imported: now if it is; True if it ran now."""
    module = sys.modules.get(name)
    if module is None:
        with _lock:
            module = sys.modules.get(name)
            if module is None:
                callbacks = _waiting.setdefault(name, [])
                if callback not in callbacks:
                    callbacks.append(callback)
                if _finder not in sys.meta_path:
                    sys.meta_path.insert(0, _finder)
                return False
    callback(module)
    return True


def cancel(name: str, callback: Callback | None = None) -> None:
    """Forget ``callback`` (or every callback) waiting for ``name``."""
    with _lock:
        callbacks = _waiting.get(name, [])
        if callback is None:
            callbacks.clear()
        elif callback in callbacks:
            callbacks.remove(callback)
        if not callbacks:
            _waiting.pop(name, None)
        _uninstall_if_idle()


def waiting(name: str) -> bool:
    """Whether a callback waits for ``name``'s import."""
    return bool(_waiting.get(name))
