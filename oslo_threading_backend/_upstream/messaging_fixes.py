"""What :mod:`oslo_threading_backend.rpc` does about oslo.messaging's behaviour, in one place.

Each function names the oslo.messaging (18.x) or futurist behaviour it works
around; tests/integration runs each against the real oslo.messaging on a real
RabbitMQ broker. The functions here touch only the server they are given:
:class:`~oslo_threading_backend.rpc.RPCService` calls them on its own, and
:mod:`.messaging_server_fixes` (the launchers' opt-out patch of oslo.messaging's
server class) on every RPC server of the process; the launchers' opt-out fix of
futurist's idle poll is :mod:`.futurist_fixes`.
Where an attribute a fix relies on is missing (another oslo.messaging), the fix
is skipped and that is logged once.
"""

from __future__ import annotations

import functools
import logging
import queue
import sys
import time
from typing import Any

from oslo_config import cfg

from oslo_threading_backend._threads import pool as _thread_pool

LOG = logging.getLogger(__name__)


class Deadline:
    """One shutdown budget shared by the steps of a stop(); None: no bound."""

    def __init__(self, timeout: float | None) -> None:
        self.timeout = timeout
        self._end = None if timeout is None else time.monotonic() + timeout

    def remaining(self) -> float | None:
        return None if self._end is None else max(0.0, self._end - time.monotonic())


@functools.cache
def _skipped(what: str, why: str) -> None:
    LOG.warning("oslo_threading_backend.rpc: %s is not applied: %s", what, why)


def register_tracing_opts(conf: cfg.ConfigOpts) -> None:
    """Register oslo.messaging's tracing options on ``conf`` too.

    oslo.messaging 18.3 registers ``[oslo_messaging_tracing]`` on ``cfg.CONF`` only
    but reads it from the server's own conf when a call arrives: with any other
    ConfigOpts (this package's runner makes its own) every call raised
    NoSuchOptError in the pool thread, before the dispatch and its error handling,
    so it was never answered and nothing was logged.
    """
    tracing = sys.modules.get("oslo_messaging._tracing.client")
    opts = getattr(tracing, "oslo_messaging_tracing", None)
    if conf is not cfg.CONF and opts:
        conf.register_opts(opts, group="oslo_messaging_tracing")


def use_native_pool(server: Any, name: str) -> None:
    """Make ``server`` run its calls on our ThreadPoolExecutor instead of futurist's.

    oslo.messaging accepts only the executor names 'threading' and 'eventlet'
    (so no executor of ours can be registered under a new name) and builds
    ``server._executor_cls(max_workers=executor_thread_pool_size)`` in start();
    'threading' is futurist.ThreadPoolExecutor, whose idle threads wake every
    ThreadWorker.MAX_IDLE_FOR (1 s) to see whether the pool was shut down, so
    the server's wait() after stop() waits up to a second with no call running.
    Ours wakes its threads through its queue and stops at once.
    """
    if getattr(server, "executor_type", None) != "threading" or not hasattr(
        server, "_executor_cls"
    ):
        _skipped("the native thread pool", f"{type(server).__name__} has no threading executor")
        return
    server._executor_cls = functools.partial(_thread_pool.ThreadPoolExecutor, name=name)


def drain(server: Any, deadline: Deadline) -> bool:
    """After server.stop(): wait for the calls in flight; False if some still run."""
    pool = getattr(server, "_work_executor", None)
    if isinstance(pool, _thread_pool.ThreadPoolExecutor):
        pool.shutdown(wait=False)  # queued calls still run
        drained = pool.join(deadline.remaining())
    else:
        drained = _join_futurist_queue(pool, deadline)
    if drained:
        return True
    LOG.warning(
        "RPC calls still running %s s after the server stopped consuming; "
        "not waiting for them any longer",
        deadline.timeout,
    )
    return False


def _join_futurist_queue(pool: Any, deadline: Deadline) -> bool:
    """Wait, up to the deadline, for the calls queued on or running in futurist's pool.

    futurist's ``shutdown(wait=True)``, which oslo.messaging's ``server.wait()``
    calls, joins the pool's work queue with no bound: a call that never ended held
    ``stop()`` until the process's own deadline. This waits on the same queue
    (``queue.Queue``'s ``task_done()`` count, which futurist's threads keep) with
    the deadline; once it is empty ``server.wait()`` returns at once.
    """
    work_queue = getattr(pool, "_work_queue", None)
    if not isinstance(work_queue, queue.Queue):
        if pool is not None:
            _skipped("bounding the drain of futurist's pool", "unknown pool internals")
        return True  # server.wait() waits as oslo.messaging does
    with work_queue.all_tasks_done:
        while work_queue.unfinished_tasks:
            remaining = deadline.remaining()
            if remaining is not None and remaining <= 0:
                return False
            work_queue.all_tasks_done.wait(remaining)
    return True


def poll_style_listener(server: Any) -> Any | None:
    """The RabbitMQ listener under ``server``'s adapter; None if this oslo.messaging has none."""
    return getattr(getattr(server, "listener", None), "_poll_style_listener", None)


def answer_late_deliveries(server: Any, deadline: Deadline) -> bool:
    """Answer the calls the RabbitMQ listener acknowledged while it was closing.

    oslo.messaging's ``stop()`` does not cancel the listener's consumers on the
    broker: it only stops polling. The broker goes on delivering until the
    connection closes in ``wait()``, and the close itself (deleting the fanout
    queue) reads the frames that arrived: the RPC listener acknowledges each call
    it reads, before it runs it, and appends it to a list nobody polls any more.
    Those calls were lost: their clients timed out, a SIGHUP with
    restart_method='reload' lost calls under load, and so did every graceful
    stop. They are run here, once each, on a pool of their own (their replies
    go out on the transport, still open). False when some were still running
    at the deadline.
    """
    listener = poll_style_listener(server)
    late = getattr(listener, "incoming", None)
    process = getattr(server, "_process_incoming", None)
    if late is None or process is None:
        if listener is not None:
            _skipped("answering calls delivered during close", "unknown listener internals")
        return True
    if not late:
        return True
    pool = _thread_pool.ThreadPoolExecutor(max_workers=max(1, min(len(late), 64)), name="rpc-late")
    count = 0
    while late:
        pool.submit(process, [late.pop(0)])
        count += 1
    pool.shutdown(wait=False)
    done = pool.join(deadline.remaining())
    LOG.info(
        "%d RPC call(s) delivered while the listener closed %s (oslo.messaging had "
        "acknowledged them and would have dropped them)",
        count,
        "answered" if done else "still running at the shutdown deadline",
    )
    return done
