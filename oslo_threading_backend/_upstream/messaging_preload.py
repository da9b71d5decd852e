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

The driver's module is not all a worker imports for its RPC: kombu imports its
AMQP transport (``kombu.transport.pyamqp`` with ``kombu.transport.base``,
``kombu.message`` and ``difflib``) only when the first connection is made, and
Python its IDNA codec when a host name is first resolved. Both came after the
fork, in every worker: 0.43 MiB of private memory per worker (measured, USS).
:func:`before_fork` imports them in the master when ``impl_rabbit`` is there,
however it got there (our :class:`~.rpc.RPCService`, or an application's own
``get_rpc_transport()`` under ``oslo-threading-exec``), unless
``[DEFAULT] preload_transport_modules`` is off.
"""

from __future__ import annotations

import codecs
import importlib
import logging
import sys
import threading
from typing import Any

from oslo_config import cfg

from oslo_threading_backend._openstack import opt_registration as _opt_registration

LOG = logging.getLogger(__name__)

#: oslo.messaging's stevedore namespace of transport drivers.
DRIVER_NAMESPACE = "oslo.messaging.drivers"

#: The driver whose connections need the modules below.
RABBIT_DRIVER_MODULE = "oslo_messaging._drivers.impl_rabbit"
#: kombu's name of the transport impl_rabbit connects with (rabbit:// -> amqp://).
KOMBU_TRANSPORT = "amqp"

OPTION = "preload_transport_modules"

preload_opts = [
    cfg.BoolOpt(
        OPTION,
        default=True,
        help="When oslo.messaging's rabbit driver is imported in the master, also import "
        "there, before forking the workers, what each worker would otherwise import on "
        "its first connection: kombu's AMQP transport and Python's IDNA codec. The "
        "workers then share those modules' memory with the master (about 0.4 MiB per "
        "worker) instead of holding a copy each. Nothing is connected in the master.",
    ),
]

_lock = threading.Lock()
_enabled = True


def list_opts() -> list[tuple[str | None, list[cfg.Opt]]]:
    """Entry point for oslo-config-generator."""
    return [(None, list(preload_opts))]


def apply_for(conf: cfg.ConfigOpts) -> None:
    """Read ``[DEFAULT] preload_transport_modules``; call in the master before forking."""
    global _enabled
    _opt_registration.register_missing(conf, preload_opts)
    _enabled = bool(getattr(conf, OPTION))


def before_fork() -> list[str]:
    """In the master, before a fork: import what the rabbit driver's first connection would.

    Returns the modules imported now: none when they are already there, when
    ``impl_rabbit`` is not imported (the application has no rabbit transport),
    or when the option is off. A module that fails to import is skipped: the
    worker meets the same error where it always did.
    """
    if not _enabled or RABBIT_DRIVER_MODULE not in sys.modules:
        return []
    imported = []
    with _lock:
        if "encodings.idna" not in sys.modules:
            try:
                codecs.lookup("idna")  # socket's host name encoding
                imported.append("encodings.idna")
            except LookupError as exc:
                LOG.debug("IDNA codec not imported before the fork: %s", exc)
        try:
            transports = importlib.import_module("kombu.transport")
            # Not set(sys.modules): a copy of it writes to every module name's
            # page (refcounts), and a page the master writes stops being shared.
            named = transports.TRANSPORT_ALIASES.get(KOMBU_TRANSPORT, "")
            if named.partition(":")[0] not in sys.modules:
                # Imports the transport's module as kombu's Connection would.
                module = transports.resolve_transport(KOMBU_TRANSPORT).__module__
                imported.append(module)
        except Exception as exc:  # an application's broken kombu: its worker says so
            LOG.debug(
                "kombu's %r transport not imported before the fork: %s", KOMBU_TRANSPORT, exc
            )
    if imported:  # once per process: the next fork finds them imported
        LOG.info(
            "Imported before forking the workers, so that they share them ([DEFAULT] %s): %s",
            OPTION,
            ", ".join(imported),
        )
    return imported


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
