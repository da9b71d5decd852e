"""Calls in flight at SIGTERM, for every oslo.messaging RPC server: a fix of oslo.messaging 18.x.

oslo.messaging's RabbitMQ RPC listener acknowledges each call as it reads it,
before running it; ``MessageHandlingServer.wait()`` closes the listener's
connection, and the close reads the frames that arrived since ``stop()``: those
calls are acknowledged and appended to a list nobody polls any more. Their
clients time out. A stopping listener now leaves them unacknowledged, and the
broker requeues them for another worker or the next run
(:mod:`.messaging_listener_requeue`); where that fix cannot go in, they are run
late (:func:`._messaging_fixes.answer_late_deliveries`). Consumers (nova,
cinder, ...) build their own server with ``oslo_messaging.get_rpc_server()``;
and a server that is stopped and never waited for (or never stopped) loses,
when the worker exits, the calls its pool still runs.

:func:`apply` wraps two methods of ``MessageHandlingServer``, once per
process: ``start()`` remembers the server (weakly) and registers on its conf
the tracing options its calls read
(:func:`._messaging_fixes.register_tracing_opts`), ``wait()`` reports the calls
left to the broker (and runs any the listener still acknowledged) after
oslo.messaging's own ``wait()`` (RPC servers only: a
notification listener acknowledges after processing, so its undelivered
messages go back to the broker), and :func:`finish_servers`, called by our worker once its service
has stopped, stops every RPC server still running and waits for each one
nobody waited for, bounded by ``graceful_shutdown_timeout``. The launchers
apply it when the threading backend is in use (``[DEFAULT]
messaging_server_fixes``, on by default), in the master before it forks; if
``oslo_messaging.server`` is not imported yet, it is patched when it is.
"""

from __future__ import annotations

import functools
import importlib.abc
import importlib.machinery
import importlib.metadata
import importlib.util
import logging
import sys
import threading
import types
from typing import Any
import weakref

from oslo_config import cfg

from oslo_threading_backend import backend
from oslo_threading_backend._openstack import opt_registration as _opt_registration
from oslo_threading_backend._upstream import after_import as _after_import
from oslo_threading_backend._upstream import applied_fixes as _applied_fixes
from oslo_threading_backend._upstream import messaging_fixes as _messaging_fixes
from oslo_threading_backend._upstream import messaging_listener_requeue as _requeue

LOG = logging.getLogger(__name__)

OPTION = "messaging_server_fixes"
#: The fix's name in the one-line summary of the fixes applied (:mod:`.applied_fixes`).
NAME = "oslo.messaging RPC servers answer the calls they took"
MODULE = "oslo_messaging.server"

messaging_server_fix_opts = [
    cfg.BoolOpt(
        OPTION,
        default=True,
        help="For every oslo.messaging RPC server of the process: once the server is "
        "stopping, its RabbitMQ listener leaves the calls it still reads to the broker, "
        "which requeues them for another worker or the next run (oslo.messaging "
        "acknowledged them as its connection closed and dropped them: their clients "
        "timed out); and at a worker's exit stop the RPC servers still running and wait "
        "for those nobody waited for, so that the calls they took are answered. "
        "Applied by the launchers on the threading backend only; False leaves "
        "oslo.messaging as it is.",
    ),
]

_lock = threading.Lock()
_patched: dict[str, Any] = {}  # method name -> our wrapper, while in place
_conf: cfg.ConfigOpts | None = None  # whose graceful_shutdown_timeout bounds the fixes
_servers: weakref.WeakSet[Any] = weakref.WeakSet()  # started, in this process
_waited: weakref.WeakSet[Any] = weakref.WeakSet()  # wait() returned since the last start()


def list_opts() -> list[tuple[str | None, list[cfg.Opt]]]:
    """Entry point for oslo-config-generator."""
    return [(None, list(messaging_server_fix_opts))]


def register_opts(conf: cfg.ConfigOpts) -> None:
    """Register the option on ``conf``; safe to call more than once."""
    _opt_registration.register_missing(conf, messaging_server_fix_opts)


@functools.cache
def _not_applied(why: str) -> None:
    LOG.warning("oslo.messaging RPC server fixes are not applied: %s", why)


def _version() -> str:
    try:
        return importlib.metadata.version("oslo.messaging")
    except importlib.metadata.PackageNotFoundError:
        return "(unknown version)"


def _deadline() -> _messaging_fixes.Deadline:
    try:
        timeout = _conf.graceful_shutdown_timeout if _conf is not None else None
    except (cfg.Error, ValueError):
        timeout = None
    return _messaging_fixes.Deadline(timeout or None)


def _is_rpc(server: Any) -> bool:
    dispatchers = sys.modules.get("oslo_messaging.rpc.dispatcher")
    rpc_dispatcher = getattr(dispatchers, "RPCDispatcher", None)
    return rpc_dispatcher is not None and isinstance(
        getattr(server, "dispatcher", None), rpc_dispatcher
    )


def _config_opts(conf: Any) -> cfg.ConfigOpts | None:
    """The ConfigOpts behind a server's conf (the driver's ConfigOptsProxy wraps it)."""
    for _level in range(5):
        if isinstance(conf, cfg.ConfigOpts):
            return conf
        conf = getattr(conf, "_conf", None)
    return None


def _wrap_start(original: Any) -> Any:
    @functools.wraps(original)
    def start(self: Any, *args: Any, **kwargs: Any) -> Any:
        """oslo.messaging's start(); the server is remembered for the worker's exit (our fix).

        Its conf gets the tracing options its calls read (see
        ``register_tracing_opts``: else every call of a server on a conf other
        than ``cfg.CONF`` died unanswered).
        """
        conf = _config_opts(getattr(self, "conf", None))
        if conf is not None:
            _messaging_fixes.register_tracing_opts(conf)
        _waited.discard(self)
        result = original(self, *args, **kwargs)
        _servers.add(self)
        return result

    return start


def _wrap_wait(original: Any) -> Any:
    @functools.wraps(original)
    def wait(self: Any, *args: Any, **kwargs: Any) -> Any:
        """oslo.messaging's wait(); then what the closing listener left to the broker (our fix)."""
        result = original(self, *args, **kwargs)
        _waited.add(self)
        if _is_rpc(self):
            _requeue.report(self)
            # Where the listener could not leave them to the broker (another driver).
            _messaging_fixes.answer_late_deliveries(self, _deadline())
        return result

    return wait


def _missing(module: types.ModuleType) -> str | None:
    server_cls = getattr(module, "MessageHandlingServer", None)
    if server_cls is None:
        return f"{MODULE}.MessageHandlingServer"
    for name in ("start", "stop", "wait", "_process_incoming"):
        if not callable(getattr(server_cls, name, None)):
            return f"{MODULE}.MessageHandlingServer.{name}"
    return None


def _patch(module: types.ModuleType) -> bool:
    """Wrap the methods; the fix joins the applied ones (its details at DEBUG)."""
    with _lock:
        server_cls = getattr(module, "MessageHandlingServer", None)
        if (
            _patched
            and server_cls is not None
            and server_cls.__dict__.get("wait") is _patched.get("wait")
        ):
            return True
        missing = _missing(module)
        if missing is not None:
            _not_applied(f"oslo.messaging {_version()} has no {missing}")
            return False
        for name, wrap in (("start", _wrap_start), ("wait", _wrap_wait)):
            _patched[name] = wrap(server_cls.__dict__[name])
            setattr(server_cls, name, _patched[name])
    _applied_fixes.applied(
        NAME,
        f"oslo.messaging {_version()} MessageHandlingServer: a stopping RPC listener leaves "
        "the calls it reads to RabbitMQ (requeued) instead of acknowledging and dropping "
        "them, and the RPC servers are stopped and waited for at a worker's exit",
        option=f"[DEFAULT] {OPTION}",
    )
    return True


def _patch_on_import(module: types.ModuleType) -> None:
    if _patch(module):
        _applied_fixes.log_summary()  # this process's line: the master's did not name it


def _requeue_on_import(module: types.ModuleType) -> None:
    if not _requeue.install(module):
        _not_applied_requeue(f"oslo.messaging {_version()} has no {_requeue.missing(module)}")


@functools.cache
def _not_applied_requeue(why: str) -> None:
    LOG.warning(
        "A stopping RPC listener still acknowledges what it reads (calls delivered "
        "while it closes are run late instead of requeued): %s",
        why,
    )


def apply() -> bool:
    """Patch ``MessageHandlingServer`` now, or when ``oslo_messaging.server`` is imported.

    Idempotent. Returns False when oslo.messaging is not installed, or lacks
    what the fix relies on (logged once); True otherwise (also when the patch
    waits for the import).
    """
    module = sys.modules.get(MODULE)
    if module is None and importlib.util.find_spec("oslo_messaging") is None:
        return False  # not installed: nothing to fix (imports nothing)
    # The driver is imported with the first transport, often after the server module.
    _after_import.call_after_import(_requeue.MODULE, _requeue_on_import)
    if module is not None:
        return _patch(module)
    # Named among the fixes on once it is patched.
    _after_import.call_after_import(MODULE, _patch_on_import)
    return True


def is_applied() -> bool:
    """Whether ``MessageHandlingServer.wait`` is our wrapper now."""
    module = sys.modules.get(MODULE)
    server_cls = getattr(module, "MessageHandlingServer", None)
    return (
        server_cls is not None
        and bool(_patched)
        and (server_cls.__dict__.get("wait") is _patched.get("wait"))
    )


def remove() -> None:
    """Put oslo.messaging's methods back (for tests); nothing if not applied."""
    global _conf
    _after_import.cancel(MODULE, _patch_on_import)
    _after_import.cancel(_requeue.MODULE, _requeue_on_import)
    _requeue.uninstall()
    with _lock:
        module = sys.modules.get(MODULE)
        server_cls = getattr(module, "MessageHandlingServer", None)
        for name, wrapper in list(_patched.items()):
            if server_cls is not None and server_cls.__dict__.get(name) is wrapper:
                setattr(server_cls, name, wrapper.__wrapped__)
        _patched.clear()
        _conf = None
    _applied_fixes.withdrawn(NAME)


def apply_for(conf: cfg.ConfigOpts) -> bool:
    """Apply the fix if this process runs on threads and ``conf`` has it on; True if applied.

    Call it before ``futurist_fixes.apply_for()``, which logs the one-line
    summary of the fixes on.
    """
    global _conf
    register_opts(conf)
    if backend.get_backend_type() is not backend.BackendType.THREADING:
        return False
    if not getattr(conf, OPTION):
        LOG.debug("[DEFAULT] %s = False: oslo.messaging's servers are left as they are", OPTION)
        return False
    _conf = conf
    return apply()


def finish_servers(timeout: float | None, stop_running: bool = True) -> None:
    """After the service stopped: stop the RPC servers still running, wait for the unwaited.

    The service may never have stopped its server, or never waited for it
    (its pool still runs calls it took, and the close would lose more): both
    are done here, within ``timeout`` seconds (None or 0: no bound; the
    process's own deadline still applies). With ``stop_running=False`` (a
    'reload' restart) only the servers already stopped are waited for.
    """
    if not _patched:
        return
    deadline = _messaging_fixes.Deadline(timeout or None)
    for server in list(_servers):
        if server in _waited or not _is_rpc(server):
            continue
        running = bool(getattr(server, "_started", False))
        if running and not stop_running:
            continue
        try:
            if running:
                LOG.info("Stopping RPC server %s that the service left running", _target(server))
                server.stop()
            if _messaging_fixes.drain(server, deadline):
                LOG.info("Waiting for RPC server %s: its service never did", _target(server))
                server.wait()  # ours: closes the listener, answers its late calls
        except Exception:
            LOG.exception("Could not finish RPC server %s", _target(server))


def _target(server: Any) -> str:
    return str(getattr(server, "target", None) or type(server).__name__)
