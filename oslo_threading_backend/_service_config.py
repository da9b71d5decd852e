"""What a launcher does with a ConfigOpts (the options themselves: ``_service_opts``)."""

from __future__ import annotations

import logging

from oslo_config import cfg

from oslo_threading_backend import executors

LOG = logging.getLogger(__name__)

RESTART_METHODS = ("reload", "mutate")


def reload_config(conf: cfg.ConfigOpts, restart_method: str) -> None:
    """Apply a SIGHUP to a config: re-read every file, or mutate the mutable options."""
    if restart_method == "mutate":
        conf.mutate_config_files()
    else:
        conf.reload_config_files()


def stop_executors(timeout: float | None) -> None:
    """After the services stopped: every named pool logs its final state and stops.

    Waits for running pool threads at most ``timeout`` seconds (None or 0:
    without limit); the process's own deadline still applies.
    """
    timeout = timeout or None
    if not executors.shutdown_all(timeout=timeout):
        LOG.warning("Pool threads still running after %s s; exiting without them", timeout)


def log_options(conf: cfg.ConfigOpts) -> None:
    if conf.log_options:
        LOG.debug("Full set of CONF:")
        conf.log_opt_values(LOG, logging.DEBUG)
