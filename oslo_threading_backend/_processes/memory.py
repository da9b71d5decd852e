"""A worker's memory: glibc's arena cap and the trim after pool threads exit, from the config.

Applied by the launchers in the master before any fork, so that the workers
inherit it (``mallopt()`` acts on the calling process and is kept across
``fork()``). glibc's per-thread caches can only be turned off before a process
starts (``GLIBC_TUNABLES``): ``oslo-threading-exec`` does it
(:mod:`oslo_threading_backend.exec_command`); a launcher user does it in the
service's unit (doc/source/operations.rst, "Memory").
"""

from __future__ import annotations

import functools
import logging
import os

from oslo_config import cfg

from oslo_threading_backend._openstack import opt_registration as _opt_registration
from oslo_threading_backend._processes import glibc_malloc as _glibc_malloc

LOG = logging.getLogger(__name__)

memory_opts = [
    cfg.BoolOpt(
        "malloc_trim_after_idle_exit",
        default=True,
        help="After pool threads exit for being idle (thread_pool_idle_timeout), give "
        "the memory glibc's malloc holds free back to the OS (malloc_trim(0), at most "
        "once a second). A thread's cache of freed chunks returns to its arena only "
        "when the thread exits; without the trim the worker keeps it. No effect where "
        "the C library is not glibc.",
    ),
    cfg.IntOpt(
        "malloc_arena_max",
        default=0,
        min=0,
        help="Cap on glibc malloc's arenas per process, set with mallopt(M_ARENA_MAX) "
        "in the master before it forks the workers. 0 leaves glibc's default (8 per "
        "CPU). An environment that sets it itself (MALLOC_ARENA_MAX, or "
        "glibc.malloc.arena_max in GLIBC_TUNABLES) is left as it is. Fewer arenas "
        "hold less memory but make threads wait for each other's malloc locks. No "
        "effect where the C library is not glibc.",
    ),
]


def list_opts() -> list[tuple[str | None, list[cfg.Opt]]]:
    """Entry point for oslo-config-generator."""
    return [(None, list(memory_opts))]


def register_opts(conf: cfg.ConfigOpts) -> None:
    _opt_registration.register_missing(conf, memory_opts)


def _arena_max_from_environment() -> str | None:
    if os.environ.get("MALLOC_ARENA_MAX"):
        return f"MALLOC_ARENA_MAX={os.environ['MALLOC_ARENA_MAX']}"
    tunables = os.environ.get("GLIBC_TUNABLES", "")
    if _glibc_malloc.tunable_set(tunables, "glibc.malloc.arena_max"):
        return f"GLIBC_TUNABLES={tunables}"
    return None


@functools.cache
def _cap_arenas(arenas: int) -> None:
    """Once per process and value: mallopt() and one line saying so."""
    by_environment = _arena_max_from_environment()
    if by_environment is not None:
        LOG.info(
            "[DEFAULT] malloc_arena_max = %d not applied: the environment sets it (%s)",
            arenas,
            by_environment,
        )
    elif _glibc_malloc.set_arena_max(arenas):
        LOG.info("glibc malloc arenas capped at %d ([DEFAULT] malloc_arena_max)", arenas)


def apply_for(conf: cfg.ConfigOpts) -> None:
    """Set the trim's switch and the arena cap from ``conf``; call in the master before forking."""
    register_opts(conf)
    _glibc_malloc.trimmer.enabled = bool(conf.malloc_trim_after_idle_exit)
    if conf.malloc_arena_max:
        _cap_arenas(conf.malloc_arena_max)
