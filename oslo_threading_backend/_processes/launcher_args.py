"""Checks of the arguments the launchers take (``workers``, ``start_method``, ...).

Bad input fails at the call that passed it, with the argument's name and what
is allowed, never later in the master or in a worker.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.context
from multiprocessing.reduction import ForkingPickler
import numbers

from oslo_config import cfg

from oslo_threading_backend._processes import service_base as _service_base

START_METHODS = (None, "fork", "spawn")
DEFAULT_WAIT_INTERVAL = 0.01


def check_workers(workers: object) -> int:
    """``workers`` as an int >= 1; None means 1, as in oslo.service."""
    if workers is None:
        return 1
    if not isinstance(workers, int) or isinstance(workers, bool):
        raise TypeError(f"workers must be an int >= 1, not {type(workers).__name__} ({workers!r})")
    if workers < 1:
        raise ValueError(f"workers must be an int >= 1, not {workers}")
    return workers


def check_start_method(start_method: object) -> multiprocessing.context.BaseContext:
    """The multiprocessing context of ``start_method``; None means 'fork'."""
    if start_method not in START_METHODS:
        raise ValueError(
            f"start_method must be None (fork), 'fork' or 'spawn', not {start_method!r}"
        )
    method = start_method or "fork"
    if method not in multiprocessing.get_all_start_methods():
        raise ValueError(f"start_method {method!r} is not available on this platform")
    return multiprocessing.get_context(method)


def check_wait_interval(wait_interval: object) -> float:
    """``wait_interval`` in seconds; None means :data:`DEFAULT_WAIT_INTERVAL`."""
    if wait_interval is None:
        return DEFAULT_WAIT_INTERVAL
    if not isinstance(wait_interval, numbers.Real) or isinstance(wait_interval, bool):
        raise TypeError(
            f"wait_interval must be a number of seconds >= 0 or None, not {wait_interval!r}"
        )
    if wait_interval < 0:
        raise ValueError(f"wait_interval must be a number of seconds >= 0, not {wait_interval}")
    return float(wait_interval)


def check_spawnable(service: _service_base.ServiceBase, conf: cfg.ConfigOpts) -> None:
    """With 'spawn' the service and conf are pickled into each worker: fail now if they cannot."""
    for what, obj in (("service", service), ("conf", conf)):
        try:
            ForkingPickler.dumps(obj)
        except Exception as exc:
            raise TypeError(
                f"start_method='spawn' pickles the {what} into each worker, and "
                f"{what} {obj!r} cannot be pickled ({type(exc).__name__}: {exc}); "
                "make it picklable or use start_method='fork'"
            ) from exc
