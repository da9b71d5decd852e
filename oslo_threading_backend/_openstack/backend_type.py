"""``BackendType``, the concurrency models, and reading one from a name.

Public as ``oslo_threading_backend.backend.BackendType`` (its ``__module__``
says so, for tracebacks and pickling); apart from the registry, which keeps
which one is selected.
"""

from __future__ import annotations

import enum


class BackendType(enum.Enum):
    """The concurrency models a service can run on."""

    EVENTLET = "eventlet"
    THREADING = "threading"


BackendType.__module__ = "oslo_threading_backend.backend"


def known_names() -> str:
    """The backend names, quoted, for error messages."""
    return ", ".join(repr(t.value) for t in BackendType)


def coerce_type(value: object, argument: str) -> BackendType:
    """Turn a BackendType or its name into a BackendType, with a useful error."""
    if isinstance(value, BackendType):
        return value
    if isinstance(value, str):
        try:
            return BackendType(value.strip().lower())
        except ValueError:
            raise ValueError(
                f"{argument} must name a known backend ({known_names()}), got {value!r}"
            ) from None
    raise TypeError(
        f"{argument} must be a BackendType or one of the strings {known_names()}, "
        f"got {type(value).__name__} {value!r}"
    )
