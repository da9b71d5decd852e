"""The worker side: one ServiceBase run inside a cotyledon worker process.

Everything here runs in a worker. cotyledon calls ``run()`` in a thread of its
own, ``terminate()`` (SIGTERM) and ``reload()`` (SIGHUP) each in a new thread,
and ends the process with ``os._exit()`` when ``terminate()`` returns.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

import cotyledon
from oslo_config import cfg

from oslo_threading_backend import _logflush
from oslo_threading_backend import _service_base
from oslo_threading_backend import _service_config
from oslo_threading_backend import process_stats
from oslo_threading_backend import thread_dump

LOG = logging.getLogger(__name__)


class ServiceWrapper(cotyledon.Service):
    """Adapts a ServiceBase to cotyledon; its class name titles the workers.

    Titles read ``<prog>: ServiceWrapper worker(N)``, as with oslo.service.
    """

    def __init__(
        self,
        worker_id: int,
        service_instance: _service_base.ServiceBase,
        conf: cfg.ConfigOpts | None = None,
        restart_method: str = "reload",
        **kwargs: Any,
    ) -> None:
        super().__init__(worker_id)
        _service_base.check_service_base(service_instance)
        self.service_instance = service_instance
        self.conf = conf
        self.restart_method = restart_method
        # Serialises start/stop/reset: a SIGTERM during start() waits for it.
        self._state_lock = threading.Lock()
        self._started = False
        self._terminating = False
        self._stats: process_stats.Reporter | None = None
        # The master talks to systemd; a worker's library code must not.
        for name in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"):
            os.environ.pop(name, None)
        # A forked worker inherits the master's handler; a spawned one installs its own.
        if conf is not None and thread_dump.installed_signal() is None:
            thread_dump.install(conf)

    def run(self) -> None:
        with self._state_lock:
            if self._terminating:
                return
            try:
                self.service_instance.start()
            except Exception:
                LOG.exception(
                    "Service %s failed to start in worker %d; exiting with status 1",
                    _describe(self.service_instance),
                    self.worker_id,
                )
                _logflush.flush_all()
                os._exit(1)
            self._started = True
            if self.conf is not None:
                self._stats = process_stats.start(self.conf)
        LOG.debug(
            "Service %s started in worker %d", _describe(self.service_instance), self.worker_id
        )

    def terminate(self) -> None:
        with self._state_lock:
            self._terminating = True
            if self._stats is not None:
                self._stats.stop()
            if self._started:
                LOG.info(
                    "Stopping service %s in worker %d",
                    _describe(self.service_instance),
                    self.worker_id,
                )
                self.service_instance.stop()
                self.service_instance.wait()
                self._started = False
        if self.conf is not None:
            _service_config.stop_executors(self.conf)
        LOG.info("Worker %d (pid %d) stopped", self.worker_id, os.getpid())
        _logflush.flush_all()

    def reload(self) -> None:
        """SIGHUP: mutate or reload the worker's config, then reset the service.

        cotyledon 2.2.0's oslo_config_glue builds a worker-side reload wrapper
        and never installs it, so workers kept their old config; the reload is
        done here instead, in the worker, on its own copy of the config.
        """
        with self._state_lock:
            if self._terminating:
                return
            if self.conf is not None:
                _service_config.reload_config(self.conf, self.restart_method)
                # cotyledon reads this when the next SIGTERM arms the worker's alarm.
                self.graceful_shutdown_timeout = self.conf.graceful_shutdown_timeout
            if self.restart_method == "mutate" or not self._started:
                self.service_instance.reset()
            else:
                self.service_instance.stop()
                self.service_instance.wait()
                self.service_instance.reset()
                self.service_instance.start()
        LOG.info(
            "Worker %d (pid %d) %s its config and reset its service",
            self.worker_id,
            os.getpid(),
            "mutated" if self.restart_method == "mutate" else "reloaded",
        )
        _logflush.flush_all()


def _describe(service: object) -> str:
    return type(service).__name__
