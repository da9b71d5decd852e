"""An oslo.service consumer, unmodified: it imports oslo_service.* and nothing of ours.

Run it through ``oslo-threading-exec`` and it runs on oslo_threading_backend.
Every process appends events ("<name> pid=<pid> key=value ...") to the file
given by --events, each with what that process itself has loaded: the module
answering ``oslo_service.service`` and how many eventlet/greenlet modules are
in its ``sys.modules``.
"""

import argparse
import os
import sys

from oslo_config import cfg
from oslo_log import log as logging
from oslo_service import loopingcall
from oslo_service import opts
from oslo_service import service

LOG = logging.getLogger(__name__)
CONF = cfg.CONF
app_opts = [cfg.StrOpt("value", default="initial", mutable=True, help="Reported on reset.")]


def emit(events_path, name, **fields):
    green = [m for m in sys.modules if m.split(".")[0] in ("eventlet", "greenlet")]
    fields.update(service_module=service.__name__, green_modules=len(green))
    line = " ".join([name, f"pid={os.getpid()}"] + [f"{k}={v}" for k, v in fields.items()])
    fd = os.open(events_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


class AppService(service.ServiceBase):
    """oslo.service's ServiceBase contract: start, stop, wait, reset."""

    def __init__(self, conf, events, start_fails=False):
        self.conf = conf
        self.events = events
        self.start_fails = start_fails
        self.ticks = 0
        self.heartbeat = None

    def _tick(self):
        self.ticks += 1
        if self.ticks == 1:
            emit(self.events, "tick", value=self.conf.app.value)

    def start(self):
        if self.start_fails:
            # As oslo.service's ServiceCrashOnStart (its test_crashed_service).
            emit(self.events, "start-failing")
            raise ValueError("start() fails on purpose")
        self.heartbeat = loopingcall.FixedIntervalLoopingCall(self._tick)
        self.heartbeat.start(interval=0.05)
        emit(self.events, "started", value=self.conf.app.value)

    def stop(self, graceful=False):
        emit(self.events, "stopping")
        if self.heartbeat is not None:
            self.heartbeat.stop()

    def wait(self):
        if self.heartbeat is not None:
            self.heartbeat.wait()
        emit(self.events, "waited")

    def reset(self):
        emit(self.events, "reset", value=self.conf.app.value)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", required=True)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--start-fails", action="store_true")
    args, rest = parser.parse_known_args()

    CONF.register_opts(app_opts, group="app")
    opts.set_service_opts_defaults(CONF, graceful_shutdown_timeout=10)
    logging.register_options(CONF)
    CONF(rest, project="oslo_service_app")
    logging.setup(CONF, "oslo_service_app")

    launcher = service.launch(
        CONF,
        AppService(CONF, args.events, args.start_fails),
        workers=args.workers,
        restart_method="mutate",
    )
    emit(
        args.events, "launched", launcher=f"{type(launcher).__module__}.{type(launcher).__name__}"
    )
    return launcher.wait()


if __name__ == "__main__":
    sys.exit(main())
