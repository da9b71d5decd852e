"""Run services in the launching process (``no_fork=True``), with our own signal handling.

The signal handlers only queue the signal number; the main thread, waiting
in ``run()``, takes signals off the queue and acts on them, so nothing but a
queue put runs inside a handler (gunicorn's arbiter does the same).
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import signal
import threading
import types

from oslo_config import cfg

from oslo_threading_backend import _logflush
from oslo_threading_backend import _service_base
from oslo_threading_backend import _service_config
from oslo_threading_backend import _signals

LOG = logging.getLogger(__name__)

_HANDLED = ("SIGTERM", "SIGINT", "SIGHUP", "SIGALRM")
_STOP = object()


class InProcessRunner:
    """Starts services here and serves SIGTERM, SIGINT, SIGHUP and SIGALRM until stopped."""

    def __init__(self, conf: cfg.ConfigOpts, restart_method: str) -> None:
        self.conf = conf
        self.restart_method = restart_method
        self.services: list[_service_base.ServiceBase] = []
        self._events: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._stopped = threading.Event()

    def add(self, service: _service_base.ServiceBase) -> None:
        """Start the service now: an exception from start() reaches the caller."""
        service.start()
        self.services.append(service)

    def request_stop(self) -> None:
        """Ask ``run()`` to stop the services and return 0; any thread may call it."""
        self._events.put(_STOP)

    def restart(self) -> None:
        """SIGHUP: reload or mutate the config, then reset (and for 'reload' restart) services."""
        _service_config.reload_config(self.conf, self.restart_method)
        for service in self.services:
            if self.restart_method == "reload":
                service.stop()
                service.wait()
                service.reset()
                service.start()
            else:
                service.reset()
        LOG.info("Services reset after SIGHUP (%s)", self.restart_method)
        _service_config.log_options(self.conf)

    def run(self) -> int:
        """Serve signals until SIGTERM or ``request_stop()``; returns the exit code."""
        if self._stopped.is_set():
            return 0
        handler = _signals.SignalHandler()
        on_main_thread = threading.current_thread() is threading.main_thread()
        if on_main_thread:
            for name in _HANDLED:
                handler.add_handler(name, self._queue_signal)
        else:
            LOG.warning("wait() called off the main thread: signals are not handled here")
        try:
            while True:
                event = self._events.get()
                if event is _STOP:
                    return self._stop_gracefully(handler if on_main_thread else None)
                if event == signal.SIGTERM:
                    LOG.info("Caught SIGTERM, stopping services")
                    return self._stop_gracefully(handler)
                if event == signal.SIGINT:
                    _fast_exit("Caught SIGINT signal, instantaneous exiting")
                if event == signal.SIGALRM:
                    _fast_exit("Caught SIGALRM signal, instantaneous exiting")
                if event == signal.SIGHUP:
                    LOG.info(
                        "Caught SIGHUP, %s the config and resetting services", self.restart_method
                    )
                    self.restart()
        finally:
            if on_main_thread:
                handler.clear()

    def _queue_signal(self, signo: int, frame: types.FrameType | None) -> None:
        self._events.put(signo)

    def _stop_gracefully(self, handler: _signals.SignalHandler | None) -> int:
        if handler is not None:
            handler.ignore_handler("SIGTERM")
        timeout = self.conf.graceful_shutdown_timeout
        deadline = None
        if timeout > 0:
            deadline = threading.Timer(
                timeout,
                _fast_exit,
                args=(f"Graceful shutdown timeout ({timeout} s) exceeded, exiting with status 1",),
            )
            deadline.daemon = True
            deadline.start()
        try:
            for service in self.services:
                service.stop()
            for service in self.services:
                service.wait()
            _service_config.stop_executors(self.conf)
        finally:
            if deadline is not None:
                deadline.cancel()
        self._stopped.set()
        LOG.info("Services stopped")
        return 0


def _fast_exit(reason: str) -> None:
    with contextlib.suppress(Exception):
        LOG.info(reason)
    _logflush.flush_all()
    os._exit(1)
