"""The launcher options: oslo.service's ``service_opts``, and registering them.

A module of its own, importing neither futurist nor eventlet, so that
``oslo_threading_backend.opts.set_service_opts_defaults()`` (called where an
application defines its options, often before it chose its backend) selects
no backend.
"""

from __future__ import annotations

import logging

from oslo_config import cfg

from oslo_threading_backend._openstack import opt_registration as _opt_registration

LOG = logging.getLogger(__name__)

# oslo.service 4.8.0's service_opts, to the letter: registered on one ConfigOpts
# together with oslo.service's, in either order, oslo.config sees the same option
# twice (it compares Opts by their attributes) instead of a DuplicateOptError.
# Hence not mutable and no minimum, as there: see check_shutdown_timeout().
_OWN_SERVICE_OPTS = [
    cfg.BoolOpt(
        "log_options",
        default=True,
        help="Enables or disables logging values of all registered "
        "options when starting a service (at DEBUG level).",
    ),
    cfg.IntOpt(
        "graceful_shutdown_timeout",
        default=60,
        help="Specify a timeout after which a gracefully shutdown "
        "server will exit. Zero value means endless wait.",
    ),
]


def _oslo_service_opts() -> list[cfg.Opt] | None:
    """oslo.service's own service_opts objects, if oslo.service is installed.

    The same objects, not equal copies: ``oslo_service.opts.set_service_opts_defaults(
    conf, graceful_shutdown_timeout=180)`` (nova does this) changes the default
    of oslo.service's objects, which would then differ from a copy of ours.
    ``oslo_service._options`` imports oslo.config only, never eventlet.
    """
    try:
        from oslo_service import _options
    except ImportError:
        return None
    opts = getattr(_options, "service_opts", None)
    if not isinstance(opts, list) or sorted(getattr(o, "dest", None) for o in opts) != sorted(
        o.dest for o in _OWN_SERVICE_OPTS
    ):
        return None  # another oslo.service than the one we know: keep ours
    return opts


service_opts: list[cfg.Opt] = _oslo_service_opts() or _OWN_SERVICE_OPTS


def register_service_opts(conf: cfg.ConfigOpts) -> None:
    """Register the launcher options; safe to call more than once.

    An application's own option of the same name is kept and used.
    """
    _opt_registration.register_missing(conf, service_opts)


def set_service_opts_defaults(conf: cfg.ConfigOpts, **defaults: object) -> None:
    """Register the launcher options and change their defaults, as oslo.service's.

    :raises TypeError: a keyword is not one of the launcher options.
    """
    known = {opt.dest for opt in service_opts}
    unknown = sorted(set(defaults) - known)
    if unknown:
        raise TypeError(
            f"set_service_opts_defaults() got unknown option(s) {', '.join(unknown)}; "
            f"the service options are {', '.join(sorted(known))}"
        )
    register_service_opts(conf)
    if defaults:
        cfg.set_defaults(service_opts, **defaults)
        if isinstance(conf, cfg.ConfigOpts):
            # An option the application registered under the same name is not one
            # of service_opts: set the default of whichever option conf holds.
            for name, value in defaults.items():
                conf.set_default(name, value)


_last_good_timeout: int | None = None


def check_shutdown_timeout(conf: cfg.ConfigOpts) -> int:
    """``graceful_shutdown_timeout`` as a number of seconds >= 0 (0: wait forever).

    oslo.service's option has no minimum, so a negative value is refused here,
    at the launcher and at each SIGHUP, naming the option.
    """
    value = conf.graceful_shutdown_timeout
    if value is None:
        return 0
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(
            f"[DEFAULT] graceful_shutdown_timeout must be a number of seconds >= 0 "
            f"(0 waits forever), not {value!r}"
        )
    global _last_good_timeout
    _last_good_timeout = value
    return value


def shutdown_timeout_or_last_good(conf: cfg.ConfigOpts) -> int:
    """At SIGHUP and in a worker forked after one: a negative value is logged, not raised.

    A reloaded file may hold ``graceful_shutdown_timeout = -1`` (the option has
    no minimum). Raising there left the rest of the reload applied and made every
    worker forked afterwards fail in its constructor (a respawn loop); the value
    last accepted in this process (a forked worker inherits the master's) is kept.
    """
    try:
        return check_shutdown_timeout(conf)
    except ValueError as exc:
        if _last_good_timeout is None:
            raise
        LOG.error("%s; keeping %d s", exc, _last_good_timeout)
        return _last_good_timeout
