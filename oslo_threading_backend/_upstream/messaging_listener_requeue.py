"""A stopping RabbitMQ RPC listener takes no more calls: a fix of oslo.messaging 18.x.

``MessageHandlingServer.stop()`` stops polling but does not cancel the
listener's consumers on the broker, which goes on delivering to it until its
connection closes in ``wait()``; the close reads those frames, and
``RpcAMQPListener.__call__`` acknowledges each call as it reads it, before
anything runs it. oslo.messaging then drops them (their clients time out).
Running them late (:func:`.messaging_fixes.answer_late_deliveries`) answers
them, but after the service's own ``stop()``: nova 34.0 shuts its cell pool
down between the server's ``stop()`` and ``wait()``, and such a call failed
with "Cannot create the cell_worker thread pool executor because shutdown has
been started".

Here a listener whose ``stop()`` began leaves what it reads unacknowledged:
the broker puts those calls back in the queue when the connection closes,
for another worker or the service's next run, as it does for a notification
listener (which acknowledges after processing). The calls the listener had
acknowledged before ``stop()`` are run as oslo.messaging runs them.
Applied with :mod:`.messaging_server_fixes` (``[DEFAULT]
messaging_server_fixes``), when ``oslo_messaging._drivers.amqpdriver`` is
imported.
"""

from __future__ import annotations

import functools
import logging
import sys
import threading
import types
from typing import Any

from oslo_threading_backend._upstream import messaging_fixes as _messaging_fixes

LOG = logging.getLogger(__name__)

MODULE = "oslo_messaging._drivers.amqpdriver"
#: On a listener: how many calls it left to the broker since its stop() began.
LEFT = "_oslo_threading_backend_left_to_broker"

_lock = threading.Lock()
_installed: Any = None  # our wrapper of RpcAMQPListener.__call__, while in place


def missing(module: types.ModuleType) -> str | None:
    """What of oslo.messaging 18.x the fix relies on is not there; None if all is."""
    listener_cls = getattr(module, "RpcAMQPListener", None)
    if listener_cls is None or "__call__" not in listener_cls.__dict__:
        return f"{MODULE}.RpcAMQPListener.__call__"
    return None


def _stopping(listener: Any) -> bool:
    shutdown = getattr(listener, "_shutdown", None)
    is_set = getattr(shutdown, "is_set", None)
    return bool(is_set()) if callable(is_set) else False


def _wrap(original: Any) -> Any:
    @functools.wraps(original)
    def __call__(self: Any, message: Any) -> Any:
        """oslo.messaging's, unless the listener is stopping: then the broker keeps the call."""
        if _stopping(self):
            # Not acknowledged: requeued by the broker when the connection closes.
            setattr(self, LEFT, getattr(self, LEFT, 0) + 1)
            return None
        return original(self, message)

    return __call__


def install(module: types.ModuleType) -> bool:
    """Wrap ``RpcAMQPListener.__call__``; False if this oslo.messaging lacks it."""
    global _installed
    with _lock:
        if missing(module) is not None:
            return False
        listener_cls = module.RpcAMQPListener
        if _installed is not None and listener_cls.__dict__["__call__"] is _installed:
            return True
        _installed = _wrap(listener_cls.__dict__["__call__"])
        listener_cls.__call__ = _installed
    return True


def is_installed() -> bool:
    module = sys.modules.get(MODULE)
    listener_cls = getattr(module, "RpcAMQPListener", None)
    return (
        _installed is not None
        and listener_cls is not None
        and listener_cls.__dict__.get("__call__") is _installed
    )


def uninstall() -> None:
    """oslo.messaging's own ``__call__`` back (for tests)."""
    global _installed
    with _lock:
        module = sys.modules.get(MODULE)
        listener_cls = getattr(module, "RpcAMQPListener", None)
        if listener_cls is not None and listener_cls.__dict__.get("__call__") is _installed:
            listener_cls.__call__ = _installed.__wrapped__
        _installed = None


def report(server: Any) -> int:
    """After ``server.wait()``: log how many calls its listener left to the broker."""
    listener = _messaging_fixes.poll_style_listener(server)
    left = getattr(listener, LEFT, 0) if listener is not None else 0
    if left:
        setattr(listener, LEFT, 0)
        LOG.info(
            "%d RPC call(s) delivered while the listener closed left to RabbitMQ, which "
            "requeues them for another worker or the next run (oslo.messaging would have "
            "acknowledged and dropped them)",
            left,
        )
    return left
