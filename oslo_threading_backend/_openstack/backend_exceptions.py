"""The errors of :mod:`oslo_threading_backend.backend`, as ``oslo_service.backend.exceptions``.

Public as ``oslo_threading_backend.backend``'s (their ``__module__`` says so,
for tracebacks and pickling). With oslo.service installed, each class it also
defines subclasses oslo.service's, so ``except`` clauses written for it catch ours.
"""

from __future__ import annotations

from oslo_threading_backend._openstack import oslo_service_classes as _oslo_service_classes


class BackendAlreadySelected(*_oslo_service_classes.base("BackendAlreadySelected"), Exception):
    """init_backend() was asked for a different backend than the one in use."""


class BackendComponentNotAvailable(
    *_oslo_service_classes.base("BackendComponentNotAvailable"), KeyError
):
    """The selected backend does not provide the requested component.

    A ``KeyError`` too, so oslo.service-style ``except KeyError`` keeps working.
    """

    def __str__(self) -> str:
        # KeyError.__str__ would repr() the message and add quotes.
        return str(self.args[0]) if self.args else ""


class BackendNotAvailable(ImportError):
    """The chosen backend cannot be loaded (usually: its dependencies are missing)."""


class UnsupportedBackendError(*_oslo_service_classes.base("UnsupportedBackendError"), Exception):
    """A component was used with a backend it does not support (as in oslo.service)."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(
            message
            or "This component is not compatible with the selected backend; it needs "
            "the threading backend."
        )


for _cls in (
    BackendAlreadySelected,
    BackendComponentNotAvailable,
    BackendNotAvailable,
    UnsupportedBackendError,
):
    _cls.__module__ = "oslo_threading_backend.backend"
del _cls
