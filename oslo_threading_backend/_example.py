"""The minimal example service behind ``python -m oslo_threading_backend``.

Two forked workers, each answering a tick every few seconds on a native
thread timer. SIGTERM stops it gracefully, SIGINT (Ctrl-C) at once, SIGHUP
reloads the config files given with --config-file.
"""

from __future__ import annotations

import logging as std_logging
import os
import sys

from oslo_config import cfg
from oslo_log import log as logging

from oslo_threading_backend import service

LOG = logging.getLogger(__name__)

example_opts = [
    cfg.IntOpt("workers", default=2, min=1, help="Worker processes of the example service."),
    cfg.FloatOpt(
        "tick_interval", default=2.0, min=0.1, mutable=True, help="Seconds between ticks."
    ),
]


class TickService(service.Service):
    """Logs a tick from each worker, so the log shows every worker alive."""

    def __init__(self, conf: cfg.ConfigOpts) -> None:
        super().__init__(threads=4)
        self.conf = conf
        self.ticks = 0

    def start(self) -> None:
        LOG.info("Example service started in pid %d", os.getpid())
        self.tg.add_timer(self.conf.example.tick_interval, self._tick)

    def _tick(self) -> None:
        self.ticks += 1
        LOG.info("pid %d: tick %d", os.getpid(), self.ticks)

    def reset(self) -> None:
        LOG.info(
            "pid %d: config reloaded, tick interval %.1f s",
            os.getpid(),
            self.conf.example.tick_interval,
        )


def main(argv: list[str] | None = None) -> int:
    conf = cfg.ConfigOpts()
    conf.register_opts(example_opts, group="example")
    logging.register_options(conf)
    conf(sys.argv[1:] if argv is None else argv, project="oslo_threading_backend")
    logging.setup(conf, "oslo_threading_backend")
    std_logging.captureWarnings(True)
    launcher = service.launch(conf, TickService(conf), workers=conf.example.workers)
    return launcher.wait()
