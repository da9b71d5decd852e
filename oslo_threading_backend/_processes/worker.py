"""The worker side: one ServiceBase run inside a cotyledon worker process.

Everything here runs in a worker. cotyledon calls ``run()`` in a thread of its
own, ``terminate()`` (SIGTERM) and ``reload()`` (SIGHUP) each in a new thread,
and ends the process with ``os._exit()`` when ``terminate()`` returns. As in
oslo.service, ``run()`` calls the service's ``start()`` and then its ``wait()``
while it runs; a stop (SIGTERM, a 'reload' SIGHUP) calls ``stop()`` and then
waits for that ``wait()`` to return rather than calling it again.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from typing import Any

import cotyledon
from oslo_config import cfg

from oslo_threading_backend import process_stats
from oslo_threading_backend import thread_dump
from oslo_threading_backend._openstack import service_config as _service_config
from oslo_threading_backend._openstack import service_opts as _service_opts
from oslo_threading_backend._processes import health_channel as _health_channel
from oslo_threading_backend._processes import heartbeat as _heartbeat
from oslo_threading_backend._processes import logflush as _logflush
from oslo_threading_backend._processes import memory as _memory
from oslo_threading_backend._processes import service_base as _service_base
from oslo_threading_backend._processes import service_wait as _service_wait
from oslo_threading_backend._processes import stop_dump as _stop_dump
from oslo_threading_backend._processes import worker_channel as _worker_channel
from oslo_threading_backend._upstream import futurist_fixes as _futurist_fixes
from oslo_threading_backend._upstream import messaging_server_fixes as _messaging_server_fixes

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
        channel: _worker_channel.WorkerChannel | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(worker_id)
        _service_base.check_service_base(service_instance)
        self.service_instance = service_instance
        self.conf = conf
        self.restart_method = restart_method
        self._channel = channel
        self._state_lock = threading.Lock()
        self._starting = False  # start() is running
        self._started = False  # start() returned
        self._start_returned = threading.Event()
        self._reload_pending = False  # a SIGHUP came while start() ran
        self._terminating = False
        # The wait() following the current start(), once start() returned.
        self._wait: _service_wait.ServiceWait | None = None
        self._reloads_applied = channel.reloads_sent() if channel is not None else 0
        self._stats: process_stats.Reporter | None = None
        # The last good value, for the pools at exit (a bad one at SIGHUP is refused).
        self._shutdown_timeout = (
            _service_opts.shutdown_timeout_or_last_good(conf) if conf is not None else None
        )
        # The master talks to systemd; a worker's library code must not.
        for name in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"):
            os.environ.pop(name, None)
        # A forked worker inherits the master's handler; a spawned one installs its own.
        if conf is not None and thread_dump.installed_signal() is None:
            thread_dump.install(conf)
        if conf is not None:
            # A forked worker inherits the master's futurist and malloc fixes; a spawned one
            # (a fresh interpreter) applies it here. Idempotent.
            _messaging_server_fixes.apply_for(conf)
            _futurist_fixes.apply_for(conf)
            _memory.apply_for(conf)
        self._health = channel.health if channel is not None else None
        if self._health is not None:
            # Built in the worker's main thread (cotyledon's ServiceWorker).
            self._heartbeat = _heartbeat.start_in_worker(
                self._health, worker_id, self._health.hang_timeout
            )
            if threading.current_thread() is threading.main_thread():
                _stop_dump.install_in_worker(
                    lambda: f"Worker {self.worker_id} (pid {os.getpid()})",
                    lambda: self.graceful_shutdown_timeout or self._shutdown_timeout,
                )

    def run(self) -> None:
        """Start the service; runs in a thread of its own (cotyledon's, or a reload's)."""
        while True:
            with self._state_lock:
                if self._terminating:
                    self._start_returned.set()
                    return
                if self._health is not None and self._health.shutdown_begun():
                    # Forked an instant before the master's shutdown began.
                    LOG.info(
                        "Worker %d (pid %d): the master is shutting down; not starting "
                        "the service",
                        self.worker_id,
                        os.getpid(),
                    )
                    self._start_returned.set()
                    return
                self._starting = True
            try:
                self.service_instance.start()
            except Exception as exc:
                LOG.exception(
                    "Service %s failed to start in worker %d; exiting with status 1",
                    _describe(self.service_instance),
                    self.worker_id,
                )
                if self._health is not None:
                    # The master's one ERROR line gives the cause.
                    self._health.report(
                        _health_channel.BOOT_FAILED, self.worker_id, f"{type(exc).__name__}: {exc}"
                    )
                _logflush.flush_all()
                os._exit(1)
            finally:
                self._start_returned.set()
            with self._state_lock:
                self._starting = False
                if self._terminating:
                    return  # terminate() stops what start() began
                if self._reload_pending and self.restart_method == "reload":
                    # A SIGHUP came during start(): restart on the new config.
                    self._reload_pending = False
                    self.service_instance.stop()
                    self.service_instance.wait()
                    self.service_instance.reset()
                    self._start_returned.clear()
                    continue
                if self._reload_pending:
                    self._reload_pending = False
                    self.service_instance.reset()
                self._started = True
                # Under the lock with _started: a stopper that sees the service
                # started finds the wait() it must await.
                wait = self._wait = _service_wait.ServiceWait(
                    self.service_instance, f"worker {self.worker_id}"
                )
                if self.conf is not None and self._stats is None:
                    self._stats = process_stats.start(self.conf)
            break
        if self._health is not None:
            self._health.report(_health_channel.STARTED, self.worker_id)
        if self._channel is not None:
            self._channel.report_started()
        LOG.debug(
            "Service %s started in worker %d", _describe(self.service_instance), self.worker_id
        )
        if wait.call() is not None:
            # Raised before any stop, as from start(): oslo.service's worker exits 1 too.
            LOG.error("Worker %d exits with status 1: its service's wait() failed", self.worker_id)
            _logflush.flush_all()
            os._exit(1)

    def _stop_and_wait(self) -> None:
        """stop(), then wait for the service: its running wait(), or a new one."""
        pending = _service_wait.begin_stop(self._wait)
        self.service_instance.stop()
        _service_wait.finish_stop(self.service_instance, pending)

    def terminate(self) -> None:
        with self._state_lock:
            self._terminating = True
            running = self._starting or self._started
            stats, self._stats = self._stats, None
        if stats is not None:
            # Not joined: under load the reporter thread would need the GIL just
            # to end, milliseconds the stop does not have to wait (it is a daemon).
            stats.stop(timeout=0)
        if running:
            LOG.info(
                "Stopping service %s in worker %d",
                _describe(self.service_instance),
                self.worker_id,
            )
            # At once, even while start() runs: a start() may serve until stop().
            pending = _service_wait.begin_stop(self._wait)
            self.service_instance.stop()
            if not self._start_returned.is_set():
                self._start_returned.wait()
                # Stop what start() set going after the first stop().
                pending = _service_wait.begin_stop(self._wait)
                self.service_instance.stop()
            _service_wait.finish_stop(self.service_instance, pending)
        # The RPC servers the service left running or never waited for.
        _messaging_server_fixes.finish_servers(self._shutdown_timeout)
        if self.conf is not None:
            # The value last read successfully (a bad one at SIGHUP was refused).
            _service_config.stop_executors(self._shutdown_timeout)
        LOG.info("Worker %d (pid %d) stopped", self.worker_id, os.getpid())
        _logflush.flush_all()

    def reload(self) -> None:
        """SIGHUP: mutate or reload the worker's config, then reset the service.

        cotyledon 2.2.0's oslo_config_glue builds a worker-side reload wrapper
        and never installs it, so workers kept their old config; the reload is
        done here instead, in the worker, on its own copy of the config. cotyledon
        also drops a SIGHUP that comes while a reload runs: the master's count of
        SIGHUPs tells this loop to reload again.
        """
        while True:
            target = self._channel.reloads_sent() if self._channel is not None else 0
            if not self._reload_once():
                return
            self._reloads_applied = max(self._reloads_applied, target)
            if self._channel is None or self._channel.reloads_sent() <= self._reloads_applied:
                return
            LOG.info(
                "Worker %d: another SIGHUP came during the reload; reloading again", self.worker_id
            )

    def _reload_once(self) -> bool:
        if self._channel is not None and self._channel.spawned:
            # A pickled ConfigOpts has no parser: it cannot re-read its files here.
            # Stop gracefully; the master respawns this worker from its reloaded config.
            LOG.info(
                "Worker %d (pid %d) was spawned: it restarts to take the new config",
                self.worker_id,
                os.getpid(),
            )
            os.kill(os.getpid(), signal.SIGTERM)
            return False
        restart = False
        with self._state_lock:
            if self._terminating:
                return False
            if self.conf is not None:
                try:
                    refused = _service_config.reload_config(self.conf, self.restart_method)
                    timeout = _service_opts.shutdown_timeout_or_last_good(self.conf)
                except Exception:
                    # cotyledon would end the worker with status 2, stop() never called.
                    LOG.exception(
                        "Worker %d could not %s its config; it keeps running on the values it had",
                        self.worker_id,
                        self.restart_method,
                    )
                    return True
                if refused is not None:
                    # The service is neither reset nor restarted.
                    LOG.error(
                        "Worker %d (pid %d): the new config is refused, it keeps the old one: %s",
                        self.worker_id,
                        os.getpid(),
                        refused,
                    )
                    return True
                # cotyledon reads this when the next SIGTERM arms the worker's alarm.
                self.graceful_shutdown_timeout = self._shutdown_timeout = timeout
            # Said once the config is read, before the reset or the restart, which
            # may take a while (a stop() that drains work).
            if self._starting:
                self._log_reloaded("will apply it when its service's start() returns")
                # Applied by run() once start() returns; with 'reload', stop() now
                # so that a start() serving until stop() returns.
                self._reload_pending = True
                if self.restart_method == "reload":
                    self.service_instance.stop()
            elif self.restart_method == "mutate" or not self._started:
                self._log_reloaded("is resetting its service")
                self.service_instance.reset()
            else:
                self._log_reloaded("is restarting its service")
                self._stop_and_wait()
                _messaging_server_fixes.finish_servers(self._shutdown_timeout, stop_running=False)
                self.service_instance.reset()
                self._started = False
                self._wait = None
                self._start_returned.clear()
                restart = True
        if restart:
            # In a thread, as at first: a start() may serve until stop().
            threading.Thread(target=self.run, name="service-start", daemon=True).start()
        _logflush.flush_all()
        return True

    def _log_reloaded(self, what: str) -> None:
        LOG.info(
            "Worker %d (pid %d) %s its config and %s",
            self.worker_id,
            os.getpid(),
            "mutated" if self.restart_method == "mutate" else "reloaded",
            what,
        )
        _logflush.flush_all()  # seen while the reset or the restart runs


def _describe(service: object) -> str:
    return type(service).__name__
