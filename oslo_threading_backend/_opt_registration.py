"""Register an option unless the ConfigOpts already has one of that name.

Our options share a ConfigOpts with the application's, and applications
written for oslo.service define some of our names themselves (nova defines
``default_thread_pool_size``, ``thread_pool_statistic_period`` and
``concurrency_backend``). oslo.config accepts an *equal* Opt registered twice
and raises DuplicateOptError for a different one; here the option already
registered wins and is read as its owner defined it.
"""

from __future__ import annotations

from collections.abc import Iterable
import logging

from oslo_config import cfg

LOG = logging.getLogger(__name__)


def register_missing(
    conf: cfg.ConfigOpts, opts: Iterable[cfg.Opt], group: str | None = None
) -> None:
    """Register each of ``opts`` on ``conf`` unless an option of its name exists there."""
    for opt in opts:
        try:
            conf.register_opt(opt, group)
        except cfg.DuplicateOptError:
            LOG.debug(
                "[%s] %s is already registered (by the application); using its definition",
                group or "DEFAULT",
                opt.dest,
            )
