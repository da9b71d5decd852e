"""The oslo.messaging RPC server fix is applied to oslo.messaging's own server class.

Each case runs in a fresh interpreter (the patch and the backend are per
process). Calls on the real broker: tests/integration/test_rpc_own_server_sigterm.py.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from oslo_threading_backend._upstream.messaging_server_fixes import NAME
from tests.installed import installed

pytestmark = pytest.mark.skipif(
    not installed("oslo.messaging"), reason="oslo.messaging is not installed"
)

PRELUDE = """
import logging, sys
logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(name)s %(message)s")
from oslo_config import cfg
from oslo_threading_backend import backend
from oslo_threading_backend._upstream import messaging_server_fixes as fixes
"""


def _run(code: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", PRELUDE + code], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_applied_before_oslo_messaging_is_imported_patches_it_at_its_import():
    lines = _run(
        "backend.init_backend(backend.BackendType.THREADING)\n"
        "conf = cfg.ConfigOpts(); conf([])\n"
        "print('applied', fixes.apply_for(conf), 'oslo_messaging' in sys.modules)\n"
        "import oslo_messaging\n"
        "print('patched', fixes.is_applied())\n"
        "fixes.apply_for(conf)\n"  # idempotent
        "from oslo_threading_backend._upstream import applied_fixes\n"
        "applied_fixes.log_summary()\n"
    )
    assert "applied True False" in lines
    assert "patched True" in lines
    summary = [line for line in lines if "Upstream fixes applied: " in line]
    assert len(summary) == 1, lines
    assert f"{NAME} ([DEFAULT] messaging_server_fixes)" in summary[0]


def test_applied_after_import_patches_at_once_and_remove_restores():
    lines = _run(
        "import oslo_messaging\n"
        "original = oslo_messaging.MessageHandlingServer.wait\n"
        "backend.init_backend(backend.BackendType.THREADING)\n"
        "conf = cfg.ConfigOpts(); conf([])\n"
        "print('applied', fixes.apply_for(conf), fixes.is_applied())\n"
        "fixes.remove()\n"
        "print('removed', oslo_messaging.MessageHandlingServer.wait is original)\n"
        "from oslo_threading_backend._upstream import applied_fixes\n"
        "print('names', applied_fixes.names())\n"
    )
    assert "applied True True" in lines
    assert "removed True" in lines
    assert "names []" in lines


def test_the_option_turns_it_off_and_the_eventlet_backend_never_gets_it():
    lines = _run(
        "backend.init_backend(backend.BackendType.THREADING)\n"
        "conf = cfg.ConfigOpts(); conf([])\n"
        "fixes.register_opts(conf)\n"
        "conf.set_override('messaging_server_fixes', False)\n"
        "import oslo_messaging\n"
        "print('off', fixes.apply_for(conf), fixes.is_applied())\n"
    )
    assert "off False False" in lines


def test_a_server_on_its_own_conf_gets_the_tracing_options_its_calls_read():
    lines = _run(
        "backend.init_backend(backend.BackendType.THREADING)\n"
        "conf = cfg.ConfigOpts(); conf([])\n"
        "fixes.apply_for(conf)\n"
        "import oslo_messaging\n"
        "transport = oslo_messaging.get_rpc_transport(conf, url='fake:/')\n"
        "target = oslo_messaging.Target(topic='t', server='s')\n"
        "server = oslo_messaging.get_rpc_server(transport, target, [], executor='threading')\n"
        "server.start()\n"
        "print('tracing', 'oslo_messaging_tracing' in conf)\n"
        "server.stop(); server.wait()\n"
        "fixes.finish_servers(5)\n"
        "print('finished')\n"
    )
    assert "tracing True" in lines
    assert "finished" in lines


def test_finish_servers_stops_and_waits_for_a_server_the_service_left_running():
    lines = _run(
        "backend.init_backend(backend.BackendType.THREADING)\n"
        "conf = cfg.ConfigOpts(); conf([])\n"
        "fixes.apply_for(conf)\n"
        "import oslo_messaging\n"
        "transport = oslo_messaging.get_rpc_transport(conf, url='fake:/')\n"
        "target = oslo_messaging.Target(topic='t', server='s')\n"
        "server = oslo_messaging.get_rpc_server(transport, target, [], executor='threading')\n"
        "server.start()\n"
        "fixes.finish_servers(5)\n"
        "print('stopped', server._started, server._work_executor.alive)\n"
    )
    assert "stopped False False" in lines, lines
    assert any("that the service left running" in line for line in lines), lines


def test_after_a_reload_stop_only_the_stopped_servers_are_waited_for():
    lines = _run(
        "backend.init_backend(backend.BackendType.THREADING)\n"
        "conf = cfg.ConfigOpts(); conf([])\n"
        "fixes.apply_for(conf)\n"
        "import oslo_messaging\n"
        "transport = oslo_messaging.get_rpc_transport(conf, url='fake:/')\n"
        "def make(topic):\n"
        "    target = oslo_messaging.Target(topic=topic, server='s')\n"
        "    return oslo_messaging.get_rpc_server(transport, target, [], executor='threading')\n"
        "stopped, running = make('a'), make('b')\n"
        "stopped.start(); running.start()\n"
        "stopped.stop()\n"
        "fixes.finish_servers(5, stop_running=False)\n"
        "print('stopped', stopped._work_executor.alive, 'running', running._started)\n"
        "running.stop(); running.wait()\n"
    )
    assert "stopped False running True" in lines, lines
    assert any("its service never did" in line for line in lines), lines


def test_the_rabbit_driver_gets_the_requeue_at_its_import_and_remove_restores_it():
    lines = _run(
        "from oslo_threading_backend._upstream import messaging_listener_requeue as requeue\n"
        "backend.init_backend(backend.BackendType.THREADING)\n"
        "conf = cfg.ConfigOpts(); conf([])\n"
        "fixes.apply_for(conf)\n"
        "print('before the driver', requeue.is_installed())\n"
        "from oslo_messaging._drivers import amqpdriver\n"
        "original = amqpdriver.RpcAMQPListener.__call__.__wrapped__\n"
        "print('at its import', requeue.is_installed())\n"
        "fixes.remove()\n"
        "print('removed', amqpdriver.RpcAMQPListener.__call__ is original)\n"
    )
    assert "before the driver False" in lines
    assert "at its import True" in lines
    assert "removed True" in lines


def test_a_stopping_listener_leaves_what_it_reads_unacknowledged():
    # The real RpcAMQPListener, without a connection: __call__ with its stop begun.
    lines = _run(
        "import threading\n"
        "from oslo_messaging._drivers import amqpdriver\n"
        "from oslo_threading_backend._upstream import messaging_listener_requeue as requeue\n"
        "assert requeue.install(amqpdriver)\n"
        "listener = amqpdriver.RpcAMQPListener.__new__(amqpdriver.RpcAMQPListener)\n"
        "listener._shutdown = threading.Event(); listener._shutdown.set()\n"
        "listener.incoming = []\n"
        "class Message:\n"
        "    acked = False\n"
        "    def acknowledge(self): Message.acked = True\n"
        "listener(Message()); listener(Message())\n"
        "class Server: pass\n"
        "server = Server(); server.listener = Server()\n"
        "server.listener._poll_style_listener = listener\n"
        "print('acked', Message.acked, 'incoming', len(listener.incoming))\n"
        "print('left', requeue.report(server), requeue.report(server))\n"
    )
    assert "acked False incoming 0" in lines
    assert "left 2 0" in lines
    assert any(
        "2 RPC call(s) delivered while the listener closed left to RabbitMQ" in line
        for line in lines
    ), lines
