"""Keep eventlet out of a process that runs on native threads.

Libraries probe for eventlet with ``try: import eventlet / except ImportError``
(futurist's ``_utils`` and ``_green``, ``waiters``, oslo.log) and switch to green
primitives when it imports. In a native-threads service that silently mixes two
concurrency models, so once the threading backend is chosen every later import of
``eventlet`` (or a submodule) fails with an :class:`EventletBlockedError`, which is
an ``ImportError`` and therefore takes those libraries' "eventlet not installed"
path.

If eventlet is already imported when the backend is chosen, what matters is
whether it changed the process: in every OpenStack virtualenv some library
(futurist, oslo.messaging, oslo.service) imports eventlet just because it is
installed, and that alone changes nothing, so :func:`poison` logs one warning
naming the importers and goes on without the block: those libraries may still
import eventlet's submodules (futurist's ``_green`` fails if half of eventlet
is refused to it). If eventlet has monkey-patched the process (``thread``, ``socket``,
``time``, ...) native threads are green threads already: :func:`poison`
raises ``RuntimeError``.

The block is a :data:`sys.meta_path` finder rather than ``sys.modules["eventlet"]
= None``: the latter only produces "import of eventlet halted; None in
sys.modules", which does not tell an operator why.
"""

from __future__ import annotations

from collections.abc import Sequence
import importlib.abc
import importlib.machinery
import logging
import sys
import threading
import types

from oslo_threading_backend._openstack import wsgi_import as _wsgi_import

LOG = logging.getLogger(__name__)

BLOCKED_PACKAGE = "eventlet"

_lock = threading.Lock()


class EventletBlockedError(ModuleNotFoundError):
    """Raised by ``import eventlet`` once the threading backend is selected.

    A ``ModuleNotFoundError`` (hence ``ImportError``) so that code probing for an
    optional eventlet behaves exactly as if eventlet were not installed.
    """


class _EventletBlocker(importlib.abc.MetaPathFinder):
    """Meta path finder that refuses ``eventlet`` and ``eventlet.*``."""

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None = None,
        target: types.ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != BLOCKED_PACKAGE and not fullname.startswith(BLOCKED_PACKAGE + "."):
            return None
        raise EventletBlockedError(
            f"import of {fullname!r} refused: this service runs on native threads "
            "(oslo_threading_backend threading backend) and must not load eventlet. "
            "Select the eventlet backend instead if this service needs eventlet.",
            name=fullname,
        )

    def __repr__(self) -> str:
        return f"<{type(self).__name__} blocking {BLOCKED_PACKAGE!r}>"


_blocker: _EventletBlocker | None = None


def _loaded_eventlet_modules() -> list[str]:
    return sorted(
        name
        for name, module in list(sys.modules.items())  # another thread may import
        if module is not None and _is_eventlet_module(name)
    )


#: Modules eventlet.patcher.monkey_patch() replaces; any of them patched means
#: the process runs on green threads.
_PATCHABLE = ("thread", "socket", "time", "select", "os", "subprocess", "builtins")

_warned = False


def _is_eventlet_module(name: str) -> bool:
    return name == BLOCKED_PACKAGE or name.startswith(BLOCKED_PACKAGE + ".")


def monkey_patched_modules() -> list[str]:
    """What eventlet has monkey-patched in this process ([] if eventlet is not loaded).

    Reads ``eventlet.patcher`` only if it is loaded already: ``monkey_patch()``
    lives there, so a process without it loaded was not patched, and this
    check imports nothing.
    """
    patcher = sys.modules.get(BLOCKED_PACKAGE + ".patcher")
    check = getattr(patcher, "is_monkey_patched", None)
    if check is None:
        return []
    return [name for name in _PATCHABLE if check(name)]


def _module_dict(module: object) -> dict[str, object] | None:
    # object.__getattribute__: a lazy module (importlib.util.LazyLoader) would
    # load itself on an ordinary attribute access, and this must import nothing.
    if not isinstance(module, types.ModuleType):
        return None
    try:
        namespace = object.__getattribute__(module, "__dict__")
    except Exception:
        return None
    return namespace if isinstance(namespace, dict) else None


def eventlet_importers() -> list[str]:
    """Modules outside eventlet whose globals hold eventlet: who imported it.

    Those holding the ``eventlet`` package itself (``import eventlet``, or
    ``import eventlet.x``); only if there is none, those holding one of its
    submodules (``from eventlet import x``; eventlet's green dnspython holds
    such too, so it comes second).
    """
    package = sys.modules.get(BLOCKED_PACKAGE)
    holders: list[str] = []
    submodule_holders: list[str] = []
    for name, module in list(sys.modules.items()):
        # eventlet's own green copies of other modules are not who imported it.
        if _is_eventlet_module(name) or name.startswith("__patched_module_"):
            continue
        namespace = _module_dict(module)
        if namespace is None:
            continue
        values = list(namespace.values())
        if package is not None and any(value is package for value in values):
            holders.append(name)
        elif any(
            isinstance(value, types.ModuleType)
            and _is_eventlet_module(str((_module_dict(value) or {}).get("__name__", "")))
            for value in values
        ):
            submodule_holders.append(name)
    return sorted(holders or submodule_holders)


def _describe_loaded(loaded: list[str]) -> str:
    where = getattr(sys.modules.get(BLOCKED_PACKAGE), "__file__", None)
    names = ", ".join(loaded[:5]) + (", ..." if len(loaded) > 5 else "")
    return f"{names}{' from ' + where if where else ''}"


def poison() -> None:
    """Make every later ``import eventlet`` fail; idempotent.

    If eventlet is imported already but has not monkey-patched anything, logs
    one WARNING naming the modules that imported it and installs no block: the
    libraries that imported eventlet may import its submodules later.

    :raises RuntimeError: eventlet has monkey-patched this process, so it runs on
        green threads (choose the eventlet backend, or do not monkey-patch).
    """
    global _blocker, _warned
    with _lock:
        loaded = _loaded_eventlet_modules()
        if loaded:
            patched = monkey_patched_modules()
            if patched:
                raise RuntimeError(
                    f"eventlet has monkey-patched this process ({', '.join(patched)}; "
                    f"{_describe_loaded(loaded)}), so its threads are green threads, but "
                    "the threading backend runs services on native threads: do not "
                    "monkey-patch, or call oslo_threading_backend.backend.init_backend("
                    "'eventlet') before importing oslo_threading_backend's other modules"
                )
            if not _warned:
                _warned = True
                importers = eventlet_importers()
                LOG.warning(
                    "eventlet is imported (by %s) but has not monkey-patched this process: "
                    "running on native threads, and eventlet stays importable for the "
                    "libraries that use it",
                    ", ".join(importers[:5]) + (", ..." if len(importers) > 5 else "")
                    if importers
                    else "an unknown module",
                )
            return
        if _blocker is None:
            _blocker = _EventletBlocker()
        # oslo_service.wsgi still imports (its eventlet Server() refuses): not a reason to die.
        _wsgi_import.install()
        if _blocker not in sys.meta_path:
            sys.meta_path.insert(0, _blocker)
            LOG.debug("eventlet imports are now blocked (native threads backend)")


def refuse_if_monkey_patched() -> None:
    """Raise the RuntimeError poison() raises if eventlet monkey-patched the process since.

    poison() lets a process where another library imported eventlet go on; a
    ``monkey_patch()`` after that would leave the launcher on green threads.
    Reads ``eventlet.patcher`` only if it is loaded; imports nothing.
    """
    patched = monkey_patched_modules()
    if patched:
        raise RuntimeError(
            f"eventlet has monkey-patched this process ({', '.join(patched)}) after the "
            "threading backend was selected, so its threads are green threads: do not "
            "monkey-patch, or select the eventlet backend before importing "
            "oslo_threading_backend's modules"
        )


def unpoison() -> None:
    """Remove the import block again (and re-arm the one warning); for tests, idempotent."""
    global _blocker, _warned
    with _lock:
        _warned = False
        _wsgi_import.remove()
        if _blocker is not None:
            while _blocker in sys.meta_path:
                sys.meta_path.remove(_blocker)
            _blocker = None


def is_poisoned() -> bool:
    """Return whether ``import eventlet`` is currently blocked."""
    with _lock:
        return _blocker is not None and _blocker in sys.meta_path
