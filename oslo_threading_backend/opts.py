"""Every option of the package, for oslo-config-generator (``oslo_threading_backend``)."""

from __future__ import annotations

import importlib

from oslo_config import cfg

# Each module keeps its own options and list_opts(); this lists them all.
_MODULES = (
    "oslo_threading_backend.service",
    "oslo_threading_backend.backend",
    "oslo_threading_backend.executors",
    "oslo_threading_backend.periodic_task",
    "oslo_threading_backend.thread_dump",
    "oslo_threading_backend.process_stats",
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
