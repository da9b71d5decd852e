"""``[DEFAULT] worker_hang_timeout``: its registration and its check.

A module of its own (importing neither futurist nor eventlet): the runner
checks it before anything is forked, the launcher reads it in the master.
"""

from __future__ import annotations

from oslo_config import cfg

from oslo_threading_backend._openstack import opt_registration as _opt_registration

OPTION = "worker_hang_timeout"
DEFAULT = 60

worker_health_opts = [
    cfg.IntOpt(
        OPTION,
        default=DEFAULT,
        help="Seconds a worker process may go without a heartbeat before the master "
        "counts it as hung: its interpreter no longer runs Python code (a C call "
        "holding the GIL, a lock inherited locked across fork, SIGSTOP). The master "
        "then logs it, has it write every thread's stack (faulthandler) to its log "
        "or stderr, kills it (SIGKILL) and starts another with the same number. "
        "0 turns the check off. Not used with no_fork.",
    ),
]


def list_opts() -> list[tuple[str | None, list[cfg.Opt]]]:
    """Entry point for oslo-config-generator."""
    return [(None, list(worker_health_opts))]


def register_opts(conf: cfg.ConfigOpts) -> None:
    """Register ``worker_hang_timeout``; safe to call more than once."""
    _opt_registration.register_missing(conf, worker_health_opts)


def check_worker_hang_timeout(conf: cfg.ConfigOpts) -> int:
    """``worker_hang_timeout`` as seconds >= 0 (0: off); ValueError naming the option."""
    register_opts(conf)
    try:
        value = conf.worker_hang_timeout
    except (cfg.Error, ValueError) as exc:
        raise ValueError(
            f"[DEFAULT] {OPTION} must be a number of seconds >= 0 (0 turns it off): {exc}"
        ) from None
    if value is None:
        return 0
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(
            f"[DEFAULT] {OPTION} must be a number of seconds >= 0 (0 turns it off), not {value!r}"
        )
    return value
