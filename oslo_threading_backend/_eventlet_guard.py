"""Keep eventlet out of a process that runs on native threads.

Libraries probe for eventlet with ``try: import eventlet / except ImportError``
(futurist's ``_utils`` and ``_green``, ``waiters``, oslo.log) and switch to green
primitives when it imports. In a native-threads service that silently mixes two
concurrency models, so once the threading backend is chosen every later import of
``eventlet`` (or a submodule) fails with an :class:`EventletBlockedError`, which is
an ``ImportError`` and therefore takes those libraries' "eventlet not installed"
path. If eventlet is already imported when the backend is chosen it is too late:
some library may already hold green primitives, so :func:`poison` raises
``RuntimeError`` instead.

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
        for name, module in sys.modules.items()
        if module is not None
        and (name == BLOCKED_PACKAGE or name.startswith(BLOCKED_PACKAGE + "."))
    )


def poison() -> None:
    """Make every later ``import eventlet`` fail; idempotent.

    :raises RuntimeError: eventlet is already imported, so the backend was chosen
        too late (choose it before importing libraries that import eventlet).
    """
    global _blocker
    with _lock:
        loaded = _loaded_eventlet_modules()
        if loaded:
            where = getattr(sys.modules.get(BLOCKED_PACKAGE), "__file__", None)
            raise RuntimeError(
                "eventlet is already imported "
                f"({', '.join(loaded[:5])}{', ...' if len(loaded) > 5 else ''}"
                f"{' from ' + where if where else ''}) but this service runs on native "
                "threads: select the threading backend before importing any library "
                "that imports eventlet, or select the eventlet backend."
            )
        if _blocker is None:
            _blocker = _EventletBlocker()
        if _blocker not in sys.meta_path:
            sys.meta_path.insert(0, _blocker)
            LOG.debug("eventlet imports are now blocked (native threads backend)")


def unpoison() -> None:
    """Remove the import block again; for tests, idempotent."""
    global _blocker
    with _lock:
        if _blocker is not None:
            while _blocker in sys.meta_path:
                sys.meta_path.remove(_blocker)
            _blocker = None


def is_poisoned() -> bool:
    """Return whether ``import eventlet`` is currently blocked."""
    with _lock:
        return _blocker is not None and _blocker in sys.meta_path
