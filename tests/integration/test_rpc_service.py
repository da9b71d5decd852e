"""rpc.RPCService in this process against the real oslo.messaging and broker.

What the forked tests cannot see from outside: which pool runs the calls, and
that stop() does not wait for futurist's idle poll (made 6 s here, instead of
1 s, so that the difference is a behaviour and not a timing), neither on our
pool nor, with the launchers' futurist fix applied, on futurist's own (the
executor='threading' server an application such as nova makes itself).
"""

import threading
import time
import uuid

from oslo_config import cfg
import pytest

from oslo_threading_backend import rpc
from oslo_threading_backend._openstack import service_opts as _service_opts
from oslo_threading_backend._threads import pool as _thread_pool
from oslo_threading_backend._upstream import futurist_fixes as _futurist_fixes

IDLE_POLL = 6.0
CALL_SECONDS = 6.0


@pytest.fixture(scope="module")
def messaging():
    from oslo_service import backend as oslo_service_backend

    if oslo_service_backend.get_backend_type() is None:
        # As nova does on native threads, before oslo.messaging imports oslo_service.
        oslo_service_backend.init_backend(oslo_service_backend.BackendType.THREADING)
    import oslo_messaging

    return oslo_messaging


class Recorder:
    def __init__(self):
        self.threads = []
        self.in_call = threading.Event()
        self.call_done = threading.Event()

    def echo(self, ctxt, value):
        self.threads.append(threading.current_thread().name)
        return value

    def sleep(self, ctxt, seconds):
        self.in_call.set()
        try:
            time.sleep(seconds)  # the call's own work, not a synchronization
        finally:
            self.call_done.set()


@pytest.fixture
def make_service(rabbit, messaging):
    made = []

    def make(executor):
        conf = cfg.ConfigOpts()
        conf([])
        _service_opts.register_service_opts(conf)  # graceful_shutdown_timeout
        messaging.get_rpc_transport(conf)  # registers transport_url on conf
        conf.set_override("transport_url", rabbit.url)
        topic = f"itest-inproc-{uuid.uuid4().hex[:8]}"
        recorder = Recorder()
        service = rpc.RPCService(conf, [recorder], topic=topic, server="inproc", executor=executor)
        transport = messaging.get_rpc_transport(cfg.CONF, url=rabbit.url)
        client = messaging.get_rpc_client(transport, messaging.Target(topic=topic), timeout=20)
        made.append((service, transport))
        return service, client, recorder

    yield make
    for service, transport in made:
        service.stop()
        transport.cleanup()


@pytest.fixture
def slow_futurist_idle_poll(monkeypatch):
    import futurist._thread

    monkeypatch.setattr(futurist._thread.ThreadWorker, "MAX_IDLE_FOR", IDLE_POLL)


@pytest.fixture
def futurist_fix():
    assert _futurist_fixes.apply()
    yield
    _futurist_fixes.remove()


def _timed_stop(service):
    started = time.monotonic()
    service.stop()
    service.wait()
    return time.monotonic() - started


def test_calls_run_on_the_packages_pool(make_service):
    service, client, recorder = make_service(rpc.NATIVE)
    service.start()
    assert isinstance(service.rpc_server._work_executor, _thread_pool.ThreadPoolExecutor)
    assert client.call({}, "echo", value=42) == 42
    assert recorder.threads[0].startswith(f"rpc-{service.target.topic}-")
    service.stop()
    assert service.rpc_server is None
    service.wait()  # returns: stopped


def test_stop_does_not_wait_for_futurists_idle_poll(make_service, slow_futurist_idle_poll):
    service, client, _ = make_service(rpc.NATIVE)
    service.start()
    assert client.call({}, "echo", value=1) == 1  # a pool thread now idles
    assert _timed_stop(service) < IDLE_POLL / 2


def test_futurists_pool_waits_out_its_idle_poll_on_stop(make_service, slow_futurist_idle_poll):
    # The upstream behaviour the native pool avoids: futurist.ThreadPoolExecutor's
    # idle threads see the shutdown only when their poll (MAX_IDLE_FOR) ends. (A
    # launcher built in this process would apply the futurist fix: none was.)
    assert not _futurist_fixes.is_applied()
    service, client, recorder = make_service(rpc.FUTURIST)
    service.start()
    assert not isinstance(service.rpc_server._work_executor, _thread_pool.ThreadPoolExecutor)
    assert client.call({}, "echo", value=1) == 1
    assert _timed_stop(service) > IDLE_POLL / 2


def test_futurists_pool_stops_at_once_with_the_futurist_fix(
    make_service, slow_futurist_idle_poll, futurist_fix
):
    # What the launchers apply (futurist_fast_shutdown) to every futurist pool,
    # oslo.messaging's own 'threading' executor included.
    service, client, _ = make_service(rpc.FUTURIST)
    service.start()
    assert not isinstance(service.rpc_server._work_executor, _thread_pool.ThreadPoolExecutor)
    assert client.call({}, "echo", value=1) == 1
    assert _timed_stop(service) < IDLE_POLL / 2


@pytest.mark.parametrize("executor", [rpc.NATIVE, rpc.FUTURIST])
def test_stop_drains_for_graceful_shutdown_timeout_then_leaves_the_call(
    make_service, executor, caplog
):
    # A call of CALL_SECONDS in flight, graceful_shutdown_timeout 1 s: stop()
    # returns at the deadline on either pool (futurist's waited out the call).
    service, client, recorder = make_service(executor)
    service.conf.set_override("graceful_shutdown_timeout", 1)
    service.start()
    caller = threading.Thread(
        target=client.prepare(timeout=30).call,
        args=({}, "sleep"),
        kwargs={"seconds": CALL_SECONDS},
    )
    caller.start()
    assert recorder.in_call.wait(20)
    took = _timed_stop(service)
    assert took < CALL_SECONDS / 2, f"stop() took {took:.1f} s, past the 1 s drain"
    assert not recorder.call_done.is_set()
    assert "RPC calls still running 1 s after the server stopped consuming" in caplog.text
    # The call was left to run: it ends on its own (the process would end it).
    assert recorder.call_done.wait(CALL_SECONDS * 2)
    caller.join(30)


def test_start_again_after_stop_serves_again(make_service):
    service, client, _ = make_service(rpc.NATIVE)
    service.start()
    assert client.call({}, "echo", value="a") == "a"
    service.stop()
    service.reset()
    service.start()
    assert client.call({}, "echo", value="b") == "b"


def test_stop_while_start_waits_for_an_unreachable_broker_returns_at_once(messaging):
    # A worker respawned during a broker outage: server.start() retries its
    # connection without end. stop() (SIGTERM) waited for it, under the lock
    # start() held, until the master killed the worker (never, with timeout 0).
    from tests.integration.broker import free_port

    conf = cfg.ConfigOpts()
    conf([])
    url = f"rabbit://guest:guest@127.0.0.1:{free_port()}//"  # nothing listens there
    transport = messaging.get_rpc_transport(conf, url=url)
    service = rpc.RPCService(conf, [Recorder()], topic="itest-unreachable", transport=transport)
    starting = threading.Thread(target=service.start, daemon=True)
    starting.start()
    try:
        # start() is connecting (and keeps trying) once the server exists.
        deadline = time.monotonic() + 10
        while service.rpc_server is None and time.monotonic() < deadline:
            threading.Event().wait(0.01)
        assert service.rpc_server is not None and starting.is_alive()

        stopping = threading.Thread(target=service.stop, daemon=True)
        stopping.start()
        stopping.join(IDLE_POLL)
        assert not stopping.is_alive(), "stop() waited for start()'s connection retries"
        waited = threading.Thread(target=service.wait, daemon=True)
        waited.start()
        waited.join(IDLE_POLL)
        assert not waited.is_alive()
        assert starting.is_alive()  # still retrying: it dies with the worker
    finally:
        transport.cleanup()
