"""Which of our fixes of upstream libraries are on: one INFO line, the details at DEBUG.

An operator needs to know which fixes are on and how to turn each off, not each
library's internals at every start. A fix that goes in calls :func:`applied`
with a short name (its details go to DEBUG); the code that applies the fixes
calls :func:`log_summary` once they are in, which logs one line::

    Upstream fixes applied: futurist fast shutdown ([DEFAULT] futurist_fast_shutdown)

The line is logged again only when the set of fixes changed: a forked worker
inherits what its master logged and says nothing.
"""

from __future__ import annotations

import logging
import threading

LOG = logging.getLogger(__name__)

_lock = threading.Lock()
_on: dict[str, str | None] = {}  # short name -> the option that turns it off
_logged: tuple[tuple[str, str | None], ...] = ()  # the set the last summary named


def applied(name: str, details: str, option: str | None = None) -> None:
    """Record that fix ``name`` is on in this process; ``details`` are logged at DEBUG.

    ``option`` names what turns it off (e.g. ``[DEFAULT] futurist_fast_shutdown``).
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"name must be a non-empty str, not {name!r}")
    with _lock:
        _on[name] = option
    LOG.debug("Upstream fix applied: %s: %s", name, details)


def withdrawn(name: str) -> None:
    """Record that fix ``name`` was taken out again; nothing if it was not on."""
    global _logged
    with _lock:
        if name in _on:
            del _on[name]
            _logged = ()  # the set changed: the next summary is logged


def names() -> list[str]:
    """The fixes on now, in the order they went in."""
    with _lock:
        return list(_on)


def summary() -> str:
    """The one line naming the fixes on (and their options); '' when none is."""
    with _lock:
        parts = [name if option is None else f"{name} ({option})" for name, option in _on.items()]
    return f"Upstream fixes applied: {', '.join(parts)}" if parts else ""


def log_summary() -> None:
    """Log :func:`summary` at INFO, unless it is empty or this process logged it already."""
    global _logged
    with _lock:
        current = tuple(_on.items())
        if not current or current == _logged:
            return
        _logged = current
    LOG.info("%s", summary())
