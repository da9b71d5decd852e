"""oslo.service's own default backend follows ours when we run on native threads.

With oslo.service installed, code that imports ``oslo_service.service``,
``loopingcall`` or ``threadgroup`` (oslo.messaging's server module does; so does
a service moving module by module) makes oslo.service select its default
backend, eventlet, unless the application chose one. In a process where our
threading backend blocks eventlet that import failed ("Unknown backend:
'eventlet'"). Only the *default* is set: a backend the application selected
with ``oslo_service.backend.init_backend`` is kept.
"""

from __future__ import annotations

import logging

LOG = logging.getLogger(__name__)


def follow_threading() -> None:
    """Register oslo.service's default-backend hook answering 'threading'; idempotent."""
    try:
        from oslo_service import backend as oslo_service_backend
    except ImportError:
        return  # oslo.service is not installed: nothing to choose
    get_type = getattr(oslo_service_backend, "get_backend_type", None)
    register = getattr(oslo_service_backend, "register_backend_default_hook", None)
    if get_type is None or register is None or get_type() is not None:
        return  # another oslo.service, ours answering it, or a backend chosen already
    threading_type = oslo_service_backend.BackendType.THREADING
    register(lambda: threading_type)
    LOG.debug("oslo.service's default backend set to 'threading', as ours")
