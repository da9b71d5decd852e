"""What a launcher does with a ConfigOpts (the options themselves: ``_service_opts``)."""

from __future__ import annotations

from collections.abc import Iterator
import contextlib
import logging

from oslo_config import cfg

from oslo_threading_backend import executors

LOG = logging.getLogger(__name__)

RESTART_METHODS = ("reload", "mutate")


def reload_config(conf: cfg.ConfigOpts, restart_method: str) -> str | None:
    """Apply a SIGHUP to a config: re-read every file, or mutate the mutable options.

    Returns None once applied, or why oslo.config could not load the files
    (parse error, missing file, ...): the ConfigOpts then keeps every value it
    had. A reason, not an exception: oslo.log appends the exception being
    handled to any line logged meanwhile, and a refusal is one line.
    """
    if restart_method == "mutate":
        try:
            conf.mutate_config_files()
        except (cfg.Error, SystemExit) as exc:
            return _reason(exc)
        # oslo.config's mutate_config_files() empties its value cache *before* it
        # reads the files: a thread that reads a mutable option meanwhile (an RPC
        # call in a worker) caches the old value again, and it stays cached until
        # the next SIGHUP. register_opts() empties the cache after registering:
        # with no options it does only that.
        conf.register_opts([])
        return None
    # reload_config_files() logs its own warning and returns False; the caller
    # logs one line instead, with the reason.
    with _oslo_config_reload_warnings() as warnings:
        reloaded = conf.reload_config_files()
    if reloaded:
        return None
    return warnings[-1] if warnings else "oslo.config could not reload the config files"


def _reason(exc: BaseException) -> str:
    if isinstance(exc, SystemExit):
        return f"oslo.config exited with status {exc.code}"
    return str(exc)


@contextlib.contextmanager
def _oslo_config_reload_warnings() -> Iterator[list[str]]:
    """Hold back oslo.config's "Caught ... while reloading" warnings; yields their reasons."""
    caught: list[str] = []

    def hold_back(record: logging.LogRecord) -> bool:
        if not str(record.msg).startswith("Caught ") or "while reloading" not in str(record.msg):
            return True
        if record.args and isinstance(record.args, tuple):
            arg = record.args[0]
            caught.append(
                f"oslo.config exited with status {arg}" if isinstance(arg, int) else str(arg)
            )
        else:
            caught.append(record.getMessage())
        return False

    logger = logging.getLogger("oslo_config.cfg")
    logger.addFilter(hold_back)
    try:
        yield caught
    finally:
        logger.removeFilter(hold_back)


def stop_executors(timeout: float | None) -> None:
    """After the services stopped: every named pool logs its final state and stops.

    Waits for running pool threads at most ``timeout`` seconds (None or 0:
    without limit); the process's own deadline still applies.
    """
    timeout = timeout or None
    if not executors.shutdown_all(timeout=timeout):
        LOG.warning("Pool threads still running after %s s; exiting without them", timeout)


def log_options(conf: cfg.ConfigOpts) -> None:
    """Log every option's value at DEBUG; a value that does not convert is one line.

    oslo.config raises from log_opt_values() at the first option whose value in
    the files does not convert (``graceful_shutdown_timeout = 5s`` after a SIGHUP):
    that is not worth a traceback, and the rest of the reload is applied.
    """
    try:
        if conf.log_options:
            LOG.debug("Full set of CONF:")
            conf.log_opt_values(LOG, logging.DEBUG)
    except (cfg.Error, ValueError) as exc:
        LOG.error("Could not log the config's values: %s", exc)
