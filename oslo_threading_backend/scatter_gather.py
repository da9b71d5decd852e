"""Call one function per target in parallel and collect what answered in time.

Runs on the 'scatter_gather' executor, a pool separate from 'default', so a task on
the default pool may scatter without waiting on itself. Calling scatter_gather from a
scatter_gather task can still starve that pool: the inner call then times out.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Hashable
from collections.abc import Iterable
from concurrent import futures
import logging
from typing import Any

# First: settles the backend, so that futurist (which imports eventlet whenever
# it is installed) finds eventlet blocked in a threading process.
from oslo_threading_backend._openstack import settle as _settle  # noqa: F401

# isort: split

import futurist
from futurist import waiters

from oslo_threading_backend import executors

LOG = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 60.0


class _DidNotRespond:
    """Type of DID_NOT_RESPOND; a single instance, kept by copy and pickle."""

    _instance: _DidNotRespond | None = None

    def __new__(cls) -> _DidNotRespond:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "DID_NOT_RESPOND"

    def __reduce__(self) -> str:
        return "DID_NOT_RESPOND"


DID_NOT_RESPOND = _DidNotRespond()
"""The result of a target that did not answer before the timeout."""


def _check_timeout(timeout: Any) -> float | None:
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(f"timeout must be a number of seconds or None, got {timeout!r}")
    if timeout < 0:
        raise ValueError(f"timeout must not be negative, got {timeout!r}")
    return float(timeout)


def scatter_gather(
    targets: Iterable[Hashable],
    fn: Callable[..., Any],
    *args: Any,
    timeout: float | None = DEFAULT_TIMEOUT,
    **kwargs: Any,
) -> dict[Any, Any]:
    """Return ``{target: fn(target, *args, **kwargs)}``, computed in parallel.

    A call that raised gives its exception as that target's result (and is logged);
    a call not finished after ``timeout`` seconds gives DID_NOT_RESPOND. Its task is
    cancelled if it never started, otherwise left running: threads are never killed.
    """
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {fn!r}")
    timeout = _check_timeout(timeout)
    if isinstance(targets, (str, bytes)):
        raise TypeError(f"targets must be a collection of targets, got {targets!r}")
    try:
        targets = list(targets)
    except TypeError:
        raise TypeError(f"targets must be iterable, got {targets!r}") from None

    if not targets:
        return {}  # nothing to run: the executor is not looked up (nor created)
    # spawn_on() per target, with its lookups and checks done once for the call.
    pool, reporter, run = executors._prepare_submit(executors.SCATTER_GATHER, fn)
    pending = {}
    for target in targets:
        if target not in pending:
            if reporter is not None:
                reporter.before_submit(pool, fn)
            pending[target] = pool.submit(run, target, *args, **kwargs)
    if isinstance(pool, futurist.GreenThreadPoolExecutor):
        waiters.wait_for_all(list(pending.values()), timeout)  # green futures
    else:
        futures.wait(pending.values(), timeout)  # futurist's check for green ones skipped

    results: dict[Any, Any] = {}
    for target, future in pending.items():
        # One locked read per future in the common case (it finished).
        try:
            results[target] = future.result(timeout=0)
            continue
        except futures.CancelledError:  # by someone else holding the future
            results[target] = DID_NOT_RESPOND
            continue
        except futures.TimeoutError as exc:
            if future.done():  # the call itself raised TimeoutError
                results[target] = _failed(target, exc)
                continue
        except BaseException as exc:  # noqa: B036 - the call's own exception is its result
            results[target] = _failed(target, exc)
            continue
        results[target] = DID_NOT_RESPOND
        if future.cancel():
            LOG.warning(
                "Target %s did not respond within %s seconds: its call was still "
                "queued and is cancelled.",
                target,
                timeout,
            )
        else:
            LOG.warning(
                "Target %s did not respond within %s seconds: its call is still "
                "running and is left to finish.",
                target,
                timeout,
            )
    return results


def _failed(target: Any, error: BaseException) -> BaseException:
    LOG.error(
        "Error gathering result from target %s",
        target,
        exc_info=(type(error), error, error.__traceback__),
    )
    return error
