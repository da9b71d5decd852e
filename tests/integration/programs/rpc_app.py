"""The RPC service under test: ``rpc.RPCService`` with one endpoint, as a runner factory.

Run as ``python -m oslo_threading_backend tests.integration.programs.rpc_app:create_service``.
Each worker appends "taken" when a call reaches the endpoint and "answered" when the
endpoint returns (O_APPEND writes of one line each), so the tests count both sides.
"""

import os
import sys
import threading
import time

from oslo_config import cfg

from oslo_threading_backend import rpc

app_opts = [
    cfg.StrOpt("events", required=True, help="File the workers append their events to."),
    cfg.StrOpt("topic", required=True, help="RPC topic to serve."),
    cfg.StrOpt("tag", default="initial", mutable=True, help="Returned with every answer."),
    cfg.StrOpt("executor", default=rpc.NATIVE, choices=rpc.EXECUTORS, help="RPCService's pool."),
    cfg.BoolOpt("preload_driver", default=True, help="RPCService's preload_driver."),
]

#: kombu's transport module, which impl_rabbit's first connection imports.
KOMBU_TRANSPORT = "kombu.transport.pyamqp"
#: The module oslo.messaging loads for rabbit:// (imported in the master by default).
RABBIT_DRIVER = "oslo_messaging._drivers.impl_rabbit"


def emit(path, name, **fields):
    line = " ".join([name, f"pid={os.getpid()}"] + [f"{k}={v}" for k, v in fields.items()])
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


def _pool_threads():
    """Threads of futurist pools alive in this process (oslo.messaging's executor's)."""
    thread_mod = sys.modules.get("futurist._thread")
    if thread_mod is None:
        return 0
    return sum(1 for t in threading.enumerate() if isinstance(t, thread_mod.ThreadWorker))


class EchoEndpoint:
    def __init__(self, conf):
        self.conf = conf

    def echo(self, ctxt, call_id, seconds=0.0):
        emit(self.conf.rpc_app.events, "taken", id=call_id)
        if seconds:
            time.sleep(seconds)  # the work of the call, not a synchronization
        tag = self.conf.rpc_app.tag
        emit(self.conf.rpc_app.events, "answered", id=call_id, tag=tag, pool=_pool_threads())
        return {"id": call_id, "pid": os.getpid(), "tag": tag}

    def reset(self):
        emit(self.conf.rpc_app.events, "reset", tag=self.conf.rpc_app.tag)


class AppRPCService(rpc.RPCService):
    def start(self):
        # Before the worker makes its transport: was the driver inherited from the master?
        # And kombu's AMQP transport, which the first connection imports unless the
        # master did before the fork ([DEFAULT] preload_transport_modules).
        emit(
            self.conf.rpc_app.events,
            "starting",
            driver_imported=RABBIT_DRIVER in sys.modules,
            transport_imported=KOMBU_TRANSPORT in sys.modules,
        )
        super().start()


def create_service(conf):
    conf.register_opts(app_opts, group="rpc_app")
    return AppRPCService(
        conf,
        [EchoEndpoint(conf)],
        topic=conf.rpc_app.topic,
        server="itest",
        executor=conf.rpc_app.executor,
        preload_driver=conf.rpc_app.preload_driver,
    )
