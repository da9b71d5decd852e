"""Calls RabbitMQ delivers to a stopping RPC server go to the next server, not to it.

oslo.messaging's ``stop()`` does not cancel the server's consumer: the broker
goes on delivering to it until ``wait()`` closes its connection, and
oslo.messaging's listener acknowledged the calls the close read, then dropped
them (or, with our earlier fix, ran them after the service had stopped: nova
34.0 answered them with "Cannot create the cell_worker thread pool executor
because shutdown has been started"). With ``messaging_server_fixes`` the
stopping listener leaves them unacknowledged and the broker requeues them.

In one process, on the real broker: casts sent after ``stop()``, delivered to
the stopped server (the queue's ready count falls to 0), then ``wait()``; a
second server on the topic must run every one of them, the first none.
"""

import threading
import uuid

import kombu
from oslo_config import cfg
import oslo_messaging
import pytest

from oslo_threading_backend._upstream import messaging_listener_requeue as requeue
from oslo_threading_backend._upstream import messaging_server_fixes as fixes
from tests.integration.harness import poll

CASTS = 20


class _Endpoint:
    def __init__(self, name, seen, lock):
        self.name, self.seen, self.lock = name, seen, lock

    def note(self, ctxt, call_id):
        with self.lock:
            self.seen.append((self.name, call_id))


def _ready(url, queue):
    """Messages in ``queue`` that the broker has not delivered to any consumer."""
    with kombu.Connection(url.replace("rabbit://", "amqp://", 1)) as connection:
        _name, ready, _consumers = connection.channel().queue_declare(queue=queue, passive=True)
        return ready


@pytest.fixture
def transport(rabbit):
    # cfg.CONF: oslo.messaging registers some of the options its calls read there only.
    transport = oslo_messaging.get_rpc_transport(cfg.CONF, url=rabbit.url)
    yield transport
    transport.cleanup()


def _server(transport, topic, endpoint):
    target = oslo_messaging.Target(topic=topic, server=endpoint.name)
    server = oslo_messaging.get_rpc_server(transport, target, [endpoint], executor="threading")
    server.start()
    return server


def test_calls_delivered_while_the_listener_closes_go_to_the_next_server(rabbit, transport):
    assert fixes.apply()
    seen, lock = [], threading.Lock()
    topic = f"requeue-{uuid.uuid4().hex[:8]}"
    servers = []  # still to stop and wait for
    try:
        assert requeue.is_installed()  # the driver was imported by the transport
        first = _server(transport, topic, _Endpoint("first", seen, lock))
        servers.append(first)
        client = oslo_messaging.get_rpc_client(
            transport, oslo_messaging.Target(topic=topic), timeout=30
        )
        client.call({}, "note", call_id="warm")  # the first server consumes the topic
        first.stop()
        for n in range(CASTS):
            client.cast({}, "note", call_id=f"c{n}")
        # Delivered to the stopped server's consumer (unacknowledged there) ...
        poll(lambda: _ready(rabbit.url, topic) == 0, what="the broker to deliver the casts")
        first.wait()  # ... whose connection closes now
        servers.remove(first)
        servers.append(_server(transport, topic, _Endpoint("second", seen, lock)))
        poll(
            lambda: len([s for s in seen if s[1] != "warm"]) >= CASTS,
            what=f"{CASTS} casts run",
        )
    finally:
        for server in servers:
            server.stop()
            server.wait()
        fixes.remove()
    casts = [s for s in seen if s[1] != "warm"]
    assert sorted(call_id for _, call_id in casts) == sorted(f"c{n}" for n in range(CASTS))
    assert {name for name, _ in casts} == {"second"}, casts
