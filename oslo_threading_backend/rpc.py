"""An oslo.messaging RPC server as a service: the consumer pattern of nova, cinder, neutron.

Needs the ``messaging`` extra (``pip install 'oslo_threading_backend[messaging]'``);
without it the rest of the package imports and works as before, and only
:class:`RPCService` raises ImportError, naming the extra. A service with RPC
endpoints is then a few lines::

    from oslo_threading_backend import rpc, service

    class SchedulerManager:
        def select_destinations(self, ctxt, spec):
            ...

    server = rpc.RPCService(CONF, [SchedulerManager()], topic="scheduler")
    service.launch(CONF, server, workers=2, restart_method="mutate").wait()

In each worker ``start()`` creates the RPC server on native threads, ``stop()``
stops consuming, lets the calls already taken finish (within
``graceful_shutdown_timeout``) and closes the connections, ``reset()`` (SIGHUP)
calls ``reset()`` on every endpoint that has one, as nova's Service does with its
manager. The calls run on this package's thread pool instead of futurist's: it
starts a thread only when none is idle (futurist's starts one per call until it
is full, and its idle threads poll every second, which our launchers' futurist
fix, ``[DEFAULT] futurist_fast_shutdown``, works around at shutdown; see
:ref:`rpc-fast-shutdown`).
"""

from __future__ import annotations

from collections.abc import Sequence
import logging
import socket
import threading
from typing import TYPE_CHECKING
from typing import Any

from oslo_config import cfg

from oslo_threading_backend._openstack import service_opts as _service_opts
from oslo_threading_backend._processes import service_base as _service_base
from oslo_threading_backend._upstream import messaging_fixes as _messaging_fixes
from oslo_threading_backend._upstream import messaging_preload as _messaging_preload

if TYPE_CHECKING:  # pragma: no cover
    import oslo_messaging

LOG = logging.getLogger(__name__)

#: The thread pools the RPC server's calls can run on.
NATIVE = "native"  # this package's pool: threads on demand, woken at once at shutdown
FUTURIST = "futurist"  # oslo.messaging's 'threading' executor, futurist.ThreadPoolExecutor
EXECUTORS = (NATIVE, FUTURIST)

_EXTRA_HINT = (
    "oslo_threading_backend.rpc needs oslo.messaging: install the 'messaging' extra "
    "(pip install 'oslo_threading_backend[messaging]')"
)


def _import_messaging():
    try:
        import oslo_messaging
    except ImportError as exc:
        raise ImportError(_EXTRA_HINT, name=exc.name) from exc
    return oslo_messaging


def _shutdown_timeout(conf: cfg.ConfigOpts) -> float | None:
    """``graceful_shutdown_timeout`` in seconds; None (0 in the config) waits forever."""
    _service_opts.register_service_opts(conf)  # kept if the application has its own
    return conf.graceful_shutdown_timeout or None


class RPCService(_service_base.ServiceBase):
    """Serve ``endpoints`` over oslo.messaging RPC in each worker, on native threads.

    :param conf: the service's ConfigOpts; the transport (``transport_url``) and
        ``executor_thread_pool_size`` are read from it in ``start()``, in the worker.
    :param endpoints: the objects whose public methods RPC clients call.
    :param topic: the topic to listen on; or give a ready ``target`` instead.
    :param server: the server name of the target (default: ``conf.host`` when the
        application defines it, else the host name); workers of one service share it.
    :param target: an ``oslo_messaging.Target`` (instead of ``topic``/``server``).
    :param transport: a transport the application made itself; it is not closed by
        ``stop()``. By default ``start()`` makes one and ``stop()`` closes it, so no
        connection is opened in the master before the fork.
    :param serializer: passed to ``oslo_messaging.get_rpc_server``.
    :param access_policy: passed to ``oslo_messaging.get_rpc_server``.
    :param executor: ``"native"`` (default): the calls run on this package's thread
        pool, which stops at once; ``"futurist"``: oslo.messaging's own
        ``threading`` executor, futurist's ThreadPoolExecutor.
    :param preload_driver: with no ``transport`` given, import the transport's
        driver module (for ``rabbit://``: kombu, amqp, ...) here, in the master,
        so that the forked workers share it instead of each importing its own
        copy in ``start()`` (about 3 MiB less per worker with RabbitMQ). Nothing
        is connected. ``False`` leaves every import to ``start()``.

    ``start()`` runs in the worker, ``stop()`` and ``wait()`` on SIGTERM (and on
    SIGHUP with ``restart_method='reload'``, followed by ``reset()`` and
    ``start()`` again), ``reset()`` on SIGHUP.
    """

    def __init__(
        self,
        conf: cfg.ConfigOpts,
        endpoints: Sequence[object],
        topic: str | None = None,
        server: str | None = None,
        *,
        target: oslo_messaging.Target | None = None,
        transport: oslo_messaging.Transport | None = None,
        serializer: Any = None,
        access_policy: Any = None,
        executor: str = NATIVE,
        preload_driver: bool = True,
    ) -> None:
        if not isinstance(conf, cfg.ConfigOpts):
            raise TypeError(f"conf must be an oslo_config.cfg.ConfigOpts, not {conf!r}")
        if isinstance(endpoints, (str, bytes)) or not isinstance(endpoints, Sequence):
            raise TypeError(f"endpoints must be a list of endpoint objects, not {endpoints!r}")
        if executor not in EXECUTORS:
            raise ValueError(
                f"executor must be one of {', '.join(map(repr, EXECUTORS))}, not {executor!r}"
            )
        if (topic is None) == (target is None):
            raise ValueError("RPCService needs exactly one of topic and target")
        if target is None and (not isinstance(topic, str) or not topic):
            raise TypeError(f"topic must be a non-empty string, not {topic!r}")
        if target is not None and server is not None:
            raise ValueError("give server in the target, not next to it")
        if not isinstance(preload_driver, bool):
            raise TypeError(f"preload_driver must be True or False, not {preload_driver!r}")
        messaging = _import_messaging()
        if target is None:
            target = messaging.Target(topic=topic, server=server or _default_server(conf))
        elif not isinstance(target, messaging.Target):
            raise TypeError(f"target must be an oslo_messaging.Target, not {target!r}")
        self.conf = conf
        self.endpoints = list(endpoints)
        self.target = target
        self.serializer = serializer
        self.access_policy = access_policy
        self.executor = executor
        self._given_transport = transport
        self._transport: oslo_messaging.Transport | None = None
        self._server: oslo_messaging.MessageHandlingServer | None = None
        self._starting = False  # server.start() runs (it may wait for the broker)
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._stopped.set()
        if transport is None and preload_driver:
            _messaging_preload.preload_driver(conf, messaging)

    def __getstate__(self) -> dict[str, Any]:
        # For spawned workers: locks and events do not pickle, a server is never sent.
        state = self.__dict__.copy()
        for name in ("_lock", "_stopped", "_server", "_transport", "_starting"):
            state.pop(name)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._transport = None
        self._server = None
        self._starting = False
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._stopped.set()

    @property
    def rpc_server(self) -> oslo_messaging.MessageHandlingServer | None:
        """The running oslo.messaging server (None before start() and after stop())."""
        return self._server

    def start(self) -> None:
        """Create the transport (unless given) and the RPC server, and start consuming."""
        messaging = _import_messaging()
        _messaging_fixes.register_tracing_opts(self.conf)
        with self._lock:
            if self._server is not None:
                LOG.warning("RPC server for %s is already running", self.target)
                return
            transport = self._given_transport
            if transport is None:
                transport = self._transport = messaging.get_rpc_transport(self.conf)
            server = messaging.get_rpc_server(
                transport,
                self.target,
                self.endpoints,
                serializer=self.serializer,
                access_policy=self.access_policy,
            )
            if self.executor == NATIVE:
                _messaging_fixes.use_native_pool(server, f"rpc-{self.target.topic}")
            self._stopped.clear()
            self._server = server
            self._starting = True
        # Not under the lock: with the broker down, server.start() retries its
        # connection without end, and stop() (SIGTERM) must not wait for it.
        try:
            server.start()
        except BaseException:
            with self._lock:
                self._starting = False
                if self._server is server:
                    self._server = None
            self._close_transport()
            self._stopped.set()
            raise
        with self._lock:
            self._starting = False
            stopped_meanwhile = self._server is not server
        if stopped_meanwhile:
            # stop() came while server.start() ran and could not stop it then.
            self._stop_server(server)
            LOG.info("RPC server for %s stopped as it started", self.target)
            return
        LOG.info("RPC server for %s started (%s pool)", self.target, self.executor)

    def stop(self) -> None:
        """Stop consuming, let the calls already taken end, then close the server.

        Calls already taken by this worker are answered; the drain is bounded by
        ``graceful_shutdown_timeout`` (0: no bound). Calls still running at that
        point are left to the process's own deadline. Calls to stop() once stopped
        do nothing.
        """
        with self._lock:
            server, self._server = self._server, None
            if server is None:
                return
            if self._starting:
                # server.start() is still connecting: it took no call yet. oslo.messaging's
                # stop() would wait for it; start() stops the server if it ever returns.
                self._stopped.set()
                LOG.info("RPC server for %s stopped while it was connecting", self.target)
                return
        self._stop_server(server)
        LOG.info("RPC server for %s stopped", self.target)

    def _stop_server(self, server: oslo_messaging.MessageHandlingServer) -> None:
        deadline = _messaging_fixes.Deadline(_shutdown_timeout(self.conf))
        try:
            server.stop()  # no new message is taken; the listener's thread is joined
            if _messaging_fixes.drain(server, deadline):
                server.wait()  # the pool is empty: closes the listener's connection
                if _messaging_fixes.answer_late_deliveries(server, deadline):
                    self._close_transport()
        finally:
            self._stopped.set()

    def wait(self) -> None:
        """Block until the RPC server has stopped (at once if it is not running)."""
        self._stopped.wait()

    def reset(self) -> None:
        """SIGHUP: call ``reset()`` on every endpoint that defines one (nova's managers do)."""
        for endpoint in self.endpoints:
            reset = getattr(endpoint, "reset", None)
            if callable(reset):
                reset()

    def _close_transport(self) -> None:
        transport, self._transport = self._transport, None
        if transport is not None:
            transport.cleanup()


def _default_server(conf: cfg.ConfigOpts) -> str:
    try:
        host = conf.host
    except cfg.NoSuchOptError:
        host = None
    return host or socket.gethostname()
