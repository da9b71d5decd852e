"""Every option of the package, for oslo-config-generator (``oslo_threading_backend``).

Also oslo.service's ``opts`` functions for the launcher options
(``register_service_opts``, ``set_service_opts_defaults``): the options are
oslo.service's own (the same objects when oslo.service is installed), so
either package's functions may register them on one ConfigOpts, in either
order.
"""

from __future__ import annotations

import importlib
from typing import Any

from oslo_config import cfg

# Not _service_config: importing this module must not select a backend.
from oslo_threading_backend._openstack import service_opts as _service_opts

__all__ = ["list_opts", "register_service_opts", "set_service_opts_defaults"]

# Each module keeps its own options and list_opts(); this lists them all.
_MODULES = (
    "oslo_threading_backend.service",
    "oslo_threading_backend.backend",
    "oslo_threading_backend.executors",
    "oslo_threading_backend.periodic_task",
    "oslo_threading_backend.thread_dump",
    "oslo_threading_backend.process_stats",
    "oslo_threading_backend._upstream.futurist_fixes",
    "oslo_threading_backend._upstream.messaging_server_fixes",
    "oslo_threading_backend._upstream.messaging_preload",
    "oslo_threading_backend._threads.hung_tasks",
    "oslo_threading_backend._processes.memory",
    "oslo_threading_backend._openstack.worker_health_opts",
)


def list_opts() -> list[tuple[str | None, list[cfg.Opt]]]:
    """All options by group; ``[DEFAULT]`` is reported as None."""
    groups: dict[str | None, list[cfg.Opt]] = {}
    for name in _MODULES:
        module = importlib.import_module(name)
        for group, opts in module.list_opts():
            key = None if group in (None, "DEFAULT") else str(group)
            groups.setdefault(key, []).extend(opts)
    return sorted(groups.items(), key=lambda item: item[0] or "")


def register_service_opts(conf: cfg.ConfigOpts) -> None:
    """Register the launcher options (``log_options``, ``graceful_shutdown_timeout``).

    As ``oslo_service.opts.register_service_opts``; an option of the same name
    the application registered itself is kept and used.
    """
    _service_opts.register_service_opts(conf)


def set_service_opts_defaults(conf: cfg.ConfigOpts, **defaults: Any) -> None:
    """Register the launcher options and set new defaults, as oslo.service's.

    ``set_service_opts_defaults(CONF, graceful_shutdown_timeout=180)`` as in
    nova; with oslo.service installed this is the very same change as
    ``oslo_service.opts.set_service_opts_defaults``.

    :raises TypeError: a keyword names no launcher option.
    """
    _service_opts.set_service_opts_defaults(conf, **defaults)
