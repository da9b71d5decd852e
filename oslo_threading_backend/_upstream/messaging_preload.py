"""Import the RPC transport's driver in the master, so that forked workers share it.

oslo.messaging imports a transport's driver when a transport is made. For
``rabbit://`` that is ``impl_rabbit`` with kombu, amqp, vine, msgpack and yaml:
about 3.4 MiB of Python objects on oslo.messaging 18.x. :class:`~.rpc.RPCService`
makes its transport in ``start()``, in each worker, so each worker held a private
copy of those modules. Imported once in the master, before the fork, their pages
are shared by every worker (copy-on-write), as gunicorn's ``--preload`` shares an
application's.

Only the module that the driver's entry point names is imported, through stevedore
as oslo.messaging does, without calling it: no driver object, no connection, no
thread exists in the master. A driver that cannot be found or imported here is
skipped (the worker's ``start()`` then raises oslo.messaging's own error).
"""

from __future__ import annotations

import logging
from typing import Any

from oslo_config import cfg

LOG = logging.getLogger(__name__)

#: oslo.messaging's stevedore namespace of transport drivers.
DRIVER_NAMESPACE = "oslo.messaging.drivers"


def driver_name(conf: cfg.ConfigOpts, messaging: Any) -> str:
    """The driver oslo.messaging will load for ``conf``: ``rabbit`` for ``rabbit://``.

    Parsed by oslo.messaging's own TransportURL, which registers its transport
    options on ``conf`` as making a transport does.
    """
    url = messaging.TransportURL.parse(conf)
    return url.transport.split("+")[0]


def preload_driver(conf: cfg.ConfigOpts, messaging: Any) -> str | None:
    """Import the transport driver's module; its name, or None when it was skipped."""
    try:
        name = driver_name(conf, messaging)
        from stevedore import named

        # Not stevedore's DriverManager: 5.10 logs a warning for a missing driver
        # whatever callback it is given; the worker's start() reports that one.
        found = named.NamedExtensionManager(
            DRIVER_NAMESPACE,
            [name],
            invoke_on_load=False,
            on_load_failure_callback=_reraise,
            on_missing_entrypoints_callback=None,
        )
        if not found.extensions:
            raise LookupError(f"no {DRIVER_NAMESPACE!r} driver named {name!r}")
    except Exception as exc:  # the worker's start() reports it, as it always did
        LOG.debug("Transport driver not imported before the fork: %s", exc)
        return None
    LOG.debug("Transport driver %r imported before the fork, shared by the workers", name)
    return name


def _reraise(manager: Any, entry_point: Any, error: BaseException) -> None:
    raise error
