"""Register an option unless the ConfigOpts already has one of that name.

Our options share a ConfigOpts with the application's, and applications
written for oslo.service define some of our names themselves (nova defines
``default_thread_pool_size``, ``thread_pool_statistic_period`` and
``concurrency_backend``). oslo.config accepts an *equal* Opt registered twice
and raises DuplicateOptError for a different one; here the option already
registered wins and is read as its owner defined it.
"""

from __future__ import annotations

from collections.abc import Sequence
import logging
from typing import Any

from oslo_config import cfg

LOG = logging.getLogger(__name__)


def register_missing(conf: Any, opts: Sequence[cfg.Opt], group: str | None = None) -> None:
    """Register each of ``opts`` on ``conf`` unless an option of its name exists there.

    Anything but a ConfigOpts (a mock, a wrapper: PeriodicTasks accepts any
    object with ``register_opts()``, as oslo.service) gets ``register_opts()``.
    """
    if not isinstance(conf, cfg.ConfigOpts):
        if group is None:
            conf.register_opts(opts)
        else:
            conf.register_opts(opts, group)
        return
    for opt in opts:
        try:
            conf.register_opt(opt, group)
        except cfg.DuplicateOptError:
            LOG.debug(
                "[%s] %s is already registered (by the application); using its definition",
                group or "DEFAULT",
                opt.dest,
            )
