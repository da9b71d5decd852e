"""An RPC call stuck in its endpoint is reported, on our pool and on oslo.messaging's own.

The real oslo.messaging on the real broker; the endpoint blocks on an Event
until the test releases it. oslo.messaging's 'threading' executor is
futurist.ThreadPoolExecutor: it is watched through the futurist fix layer the
launchers apply (applied here directly, as no launcher is built).
"""

import logging
import threading
import time
import uuid

from oslo_config import cfg
import pytest

from oslo_threading_backend import rpc
from oslo_threading_backend._openstack import service_opts as _service_opts
from oslo_threading_backend._threads import hung_tasks
from oslo_threading_backend._upstream import futurist_hung_tasks

THRESHOLD = 0.5
LOGGER = "oslo_threading_backend._threads.hung_tasks"


@pytest.fixture(scope="module")
def messaging():
    from oslo_service import backend as oslo_service_backend

    if oslo_service_backend.get_backend_type() is None:
        oslo_service_backend.init_backend(oslo_service_backend.BackendType.THREADING)
    import oslo_messaging

    return oslo_messaging


class Inventory:
    def __init__(self):
        self.release = threading.Event()

    def claim(self, ctxt):
        self.release.wait(30)
        return "claimed"


@pytest.fixture
def watched():
    hung_tasks.set_threshold(THRESHOLD)
    assert futurist_hung_tasks.apply()
    yield
    futurist_hung_tasks.remove()
    hung_tasks.set_threshold(hung_tasks.DEFAULT_THRESHOLD)


def _records(caplog, level):
    return [r for r in caplog.records if r.name == LOGGER and r.levelno == level]


def _wait_for(predicate, timeout=20.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        threading.Event().wait(0.02)


@pytest.mark.parametrize(
    ("executor", "where"),
    [(rpc.NATIVE, "on pool rpc-"), (rpc.FUTURIST, "on futurist ThreadPoolExecutor")],
)
def test_a_stuck_call_is_reported_once_with_its_stack_then_its_end(
    rabbit, messaging, watched, caplog, executor, where
):
    caplog.set_level(logging.INFO, logger=LOGGER)
    conf = cfg.ConfigOpts()
    conf([])
    _service_opts.register_service_opts(conf)
    messaging.get_rpc_transport(conf)  # registers transport_url on conf
    conf.set_override("transport_url", rabbit.url)
    topic = f"itest-stuck-{uuid.uuid4().hex[:8]}"
    inventory = Inventory()
    service = rpc.RPCService(conf, [inventory], topic=topic, server="stuck", executor=executor)
    transport = messaging.get_rpc_transport(cfg.CONF, url=rabbit.url)
    client = messaging.get_rpc_client(transport, messaging.Target(topic=topic), timeout=30)
    service.start()
    result = []
    caller = threading.Thread(target=lambda: result.append(client.call({}, "claim")))
    try:
        caller.start()
        _wait_for(lambda: _records(caplog, logging.WARNING))
        (warning,) = _records(caplog, logging.WARNING)
        text = warning.getMessage()
        assert text.startswith("Task "), text
        assert where in text.splitlines()[0], text
        assert "0x" not in text.splitlines()[0]
        assert "in claim\n    self.release.wait(30)" in text
        assert hung_tasks.stuck_count() == 1
        assert not _records(caplog, logging.INFO)
        inventory.release.set()
        caller.join(30)
        assert result == ["claimed"]
        _wait_for(lambda: _records(caplog, logging.INFO))
        (info,) = _records(caplog, logging.INFO)
        assert " was stuck for " in info.getMessage()
        assert len(_records(caplog, logging.WARNING)) == 1
        assert hung_tasks.stuck_count() == 0
    finally:
        inventory.release.set()
        caller.join(30)
        service.stop()
        service.wait()
        transport.cleanup()
