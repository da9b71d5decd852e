"""An RPC service in 2 forked workers on one variant; started by bench_rpc.py.

Usage: python benchmarks/rpc_service.py VARIANT CONFIG_FILE TOPIC
  VARIANT: ours | oslo-threading | oslo-eventlet

Every variant serves the same endpoint on the same topic, with ProcessLauncher
and 2 workers, as nova's services do:

- ours: ``oslo_threading_backend.rpc.RPCService`` (this package's helper);
- oslo-threading / oslo-eventlet: the Service class nova, cinder and neutron write
  by hand on oslo.service: the transport is made in the master, before the fork
  (their ``rpc.init(CONF)`` runs at config parsing), ``start()`` makes the
  oslo.messaging RPC server on it (executor 'threading', or 'eventlet' after
  monkey-patching), ``stop()`` calls ``server.stop()`` then ``server.wait()``.

Both ways the transport's driver (kombu, amqp, ...) is imported in the master and
shared by the workers: ours imports it in ``RPCService()`` (``preload_driver``).

Each worker reports "serving" (a JSON line on the fd named by BENCH_REPORT_FD)
once its server consumes. Only ``sys``, ``os`` and ``_api`` are imported before
the variant is selected: the eventlet variant monkey-patches first.
"""

import sys

import _api

WORKERS = 2


def report(event, **fields):
    import json
    import os
    import time

    fd = int(os.environ.get("BENCH_REPORT_FD", "-1"))
    if fd >= 0:
        fields.update(event=event, pid=os.getpid(), t=time.monotonic())
        os.write(fd, (json.dumps(fields) + "\n").encode())


class EchoEndpoint:
    """The RPC API under test: one call that does ``seconds`` of I/O, then answers."""

    def echo(self, ctxt, value, seconds=0.0):
        if seconds:
            import time

            time.sleep(seconds)
        return value


def _hand_written_service(base, executor, conf, topic):
    """nova.service.Service's RPC part, as written against oslo.service."""
    import oslo_messaging

    # nova's rpc.init(CONF): one transport, made in the master, used by every worker.
    transport = oslo_messaging.get_rpc_transport(conf)

    class Service(base):
        def __init__(self):
            super().__init__()
            self.server = None

        def start(self):
            target = oslo_messaging.Target(topic=topic, server="bench")
            self.server = oslo_messaging.get_rpc_server(
                transport, target, [EchoEndpoint()], executor=executor
            )
            self.server.start()
            report("serving")

        def stop(self, graceful=False):
            if self.server is not None:
                self.server.stop()
                self.server.wait()
            super().stop(graceful)

    return Service()


def main(argv):
    if len(argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    variant, config_file, topic = argv[1:]
    _api.select(variant)
    import logging
    import os

    from oslo_config import cfg

    logging.basicConfig(
        level=os.environ.get("BENCH_LOG_LEVEL", "WARNING"),
        format="%(asctime)s.%(msecs)03d %(process)d %(threadName)s %(name)s %(message)s",
        datefmt="%H:%M:%S",
    )
    # cfg.CONF, as OpenStack services use: oslo.messaging 18.3 registers its tracing
    # options there only, and oslo.service's servers need them on their conf.
    conf = cfg.CONF
    conf(args=["--config-file", config_file], project="bench", default_config_dirs=[])
    if variant == "ours":
        from oslo_threading_backend import rpc

        class ReportingRPCService(rpc.RPCService):
            def start(self):
                super().start()
                report("serving")

        svc = ReportingRPCService(conf, [EchoEndpoint()], topic=topic, server="bench")
    else:
        executor = "eventlet" if _api.green else "threading"
        svc = _hand_written_service(_api.service.Service, executor, conf, topic)
    launcher = _api.service.ProcessLauncher(conf)
    launcher.launch_service(svc, workers=WORKERS)
    report("launching")
    return launcher.wait()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
