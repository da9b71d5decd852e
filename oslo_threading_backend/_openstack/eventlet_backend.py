"""The ``eventlet`` backend: an adapter over oslo.service's own eventlet backend.

For applications that keep an eventlet mode during their migration (nova's
``OS_NOVA_DISABLE_EVENTLET_PATCHING`` pattern): the same component names map
to ``oslo_service.backend._eventlet``, so the application's code path does not
depend on the backend. This package does not depend on oslo.service or
eventlet; importing this module fails with an ImportError naming what to
install when either is missing. Monkey patching stays the application's job.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

from oslo_threading_backend.backend import BaseBackend

_OSLO_SERVICE_BACKEND = "oslo_service.backend._eventlet"


def _require(module: str, what: str) -> None:
    try:
        spec = importlib.util.find_spec(module)
    except ImportError:  # a parent package is missing (or blocked)
        spec = None
    if spec is None:
        raise ImportError(
            f"the eventlet backend needs {what} ({module!r} not found)",
            name=module,
        )


# Checked at import so that init_backend("eventlet") fails at selection time,
# not at the first get_component().
_require("eventlet", "eventlet")
_require(_OSLO_SERVICE_BACKEND, "oslo.service 4.x with its eventlet backend")


class EventletBackend(BaseBackend):
    """oslo.service's eventlet components under this package's backend registry."""

    @staticmethod
    def get_service_components() -> dict[str, Any]:
        """Return oslo.service's eventlet backend components, importing them now."""
        module = importlib.import_module(_OSLO_SERVICE_BACKEND)
        return dict(module.EventletBackend.get_service_components())
