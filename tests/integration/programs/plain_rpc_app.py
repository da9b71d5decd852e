"""A consumer's own RPC server, as nova and cinder build it: ``oslo_messaging.get_rpc_server()``.

Not ``rpc.RPCService``: a plain ``service.Service`` that makes its transport and
server in ``start()`` with oslo.messaging's own 'threading' executor, and whose
``stop()`` stops the server. ``[plain_rpc] waits`` says whether the service
then also waits for it (``server.wait()``, as nova does) or never does (as many
consumers). The endpoint is rpc_app's: "taken" and "answered" events per call.
"""

from oslo_config import cfg
import oslo_messaging

from oslo_threading_backend import service
from tests.integration.programs import rpc_app

plain_opts = [
    cfg.BoolOpt("waits", default=False, help="stop() also calls the server's wait()."),
]


class PlainRPCService(service.Service):
    def __init__(self, conf):
        super().__init__()
        self.conf = conf
        self.transport = None
        self.server = None

    def start(self):
        super().start()
        self.transport = oslo_messaging.get_rpc_transport(self.conf)
        target = oslo_messaging.Target(topic=self.conf.rpc_app.topic, server="itest")
        self.server = oslo_messaging.get_rpc_server(
            self.transport, target, [rpc_app.EchoEndpoint(self.conf)], executor="threading"
        )
        self.server.start()

    def stop(self, graceful=False):
        if self.server is not None:
            self.server.stop()
            if self.conf.plain_rpc.waits:
                self.server.wait()
        super().stop(graceful)


def create_service(conf):
    # oslo.messaging registers these on cfg.CONF only, and its calls read them from
    # the server's conf: a consumer on cfg.CONF has them, as this one now.
    from oslo_messaging._tracing import client as tracing

    conf.register_opts(tracing.oslo_messaging_tracing, group="oslo_messaging_tracing")
    conf.register_opts(rpc_app.app_opts, group="rpc_app")
    conf.register_opts(plain_opts, group="plain_rpc")
    return PlainRPCService(conf)
