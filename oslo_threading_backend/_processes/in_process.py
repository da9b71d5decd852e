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

from oslo_threading_backend import process_stats
from oslo_threading_backend import systemd
from oslo_threading_backend import thread_dump
from oslo_threading_backend._openstack import service_config as _service_config
from oslo_threading_backend._openstack import service_opts as _service_opts
from oslo_threading_backend._processes import logflush as _logflush
from oslo_threading_backend._processes import service_base as _service_base
from oslo_threading_backend._processes import service_wait as _service_wait
from oslo_threading_backend._processes import signals as _signals
from oslo_threading_backend._processes import stop_dump as _stop_dump
from oslo_threading_backend._upstream import messaging_server_fixes as _messaging_server_fixes

LOG = logging.getLogger(__name__)

_HANDLED = ("SIGTERM", "SIGINT", "SIGHUP", "SIGALRM")
_STOP = object()


class _WaitFailed:
    """Queued for run(): a service's wait() raised before any stop."""

    def __init__(self, service: object, error: BaseException) -> None:
        self.service = service
        self.error = error


class InProcessRunner:
    """Starts services here and serves SIGTERM, SIGINT, SIGHUP and SIGALRM until stopped."""

    def __init__(self, conf: cfg.ConfigOpts, restart_method: str) -> None:
        self.conf = conf
        self.restart_method = restart_method
        self.services: list[_service_base.ServiceBase] = []
        # Per service, the wait() running on a thread after its start(), as oslo.service.
        self._waits: list[_service_wait.ServiceWait] = []
        self._events: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._restart_lock = threading.Lock()
        self._restart_thread: threading.Thread | None = None
        self._restart_again = False
        # Last good value: a bad one in a reloaded config file is refused.
        self._shutdown_timeout = _service_opts.check_shutdown_timeout(conf)
        self._stopped = threading.Event()
        # "Service: ExcType: message" of the first start() that raised.
        self.boot_failure: str | None = None
        # Handlers go in now, as oslo.service does: a signal that arrives while
        # services start, before run(), is queued instead of killing the process.
        self._handler: _signals.SignalHandler | None = None
        if threading.current_thread() is threading.main_thread():
            self._handler = _signals.SignalHandler()
            self.install_signal_handlers()
            thread_dump.install(conf)

    @property
    def signal_handler(self) -> _signals.SignalHandler | None:
        return self._handler

    def install_signal_handlers(self) -> None:
        """Queue SIGTERM, SIGINT, SIGHUP and SIGALRM for ``run()`` (main thread only)."""
        if self._handler is None:
            raise RuntimeError("signal handlers can only be installed from the main thread")
        self._handler.clear()
        for name in _HANDLED:
            self._handler.add_handler(name, self._queue_signal)

    def add(self, service: _service_base.ServiceBase) -> None:
        """Start the service now, then call its wait() on a thread of its own.

        A start() that raises is a boot failure, as in a forked worker: one
        ERROR record, and run() stops the services started and returns 1.
        """
        name = type(service).__name__
        if self.boot_failure is not None:
            LOG.info("Service %s not started: %s failed to start", name, self.boot_failure)
            return
        try:
            service.start()
        except Exception as exc:
            self.boot_failure = f"{name} ({type(exc).__name__}: {exc})"
            LOG.exception(
                "Service %s failed to start in this process (no_fork): %s: %s. Stopping "
                "the services started, exit status 1",
                name,
                type(exc).__name__,
                exc,
            )
            return
        self.services.append(service)
        self._waits.append(self._wait_for(service))

    def _wait_for(self, service: _service_base.ServiceBase) -> _service_wait.ServiceWait:
        wait = _service_wait.ServiceWait(service, "this process")

        def call() -> None:
            # An exception from wait() before any stop ends the run with status 1,
            # as it ends a forked worker (and as oslo.service's launcher.wait() raises).
            error = wait.call()
            if error is not None:
                self._events.put(_WaitFailed(service, error))

        threading.Thread(target=call, name="service-wait", daemon=True).start()
        return wait

    def _stop_services(self) -> None:
        """stop() every service, then wait for each: its running wait(), or a new one."""
        pending = [_service_wait.begin_stop(wait) for wait in self._waits]
        for service in self.services:
            service.stop()
        for service, wait in zip(self.services, pending, strict=True):
            _service_wait.finish_stop(service, wait)

    def request_stop(self) -> None:
        """Ask ``run()`` to stop the services and return 0; any thread may call it."""
        self._events.put(_STOP)

    def restart(self) -> None:
        """SIGHUP: reload or mutate the config, then reset (and for 'reload' restart) services."""
        try:
            refused = _service_config.reload_config(self.conf, self.restart_method)
            self._shutdown_timeout = _service_opts.shutdown_timeout_or_last_good(self.conf)
        except Exception:
            LOG.exception(
                "Could not %s the config; the services keep running on the values they had",
                self.restart_method,
            )
            return
        if refused is not None:
            LOG.error("The new config is refused, the services keep the old one: %s", refused)
            return
        if self.restart_method == "reload":
            self._stop_services()
        for index, service in enumerate(self.services):
            service.reset()
            if self.restart_method == "reload":
                service.start()
                self._waits[index] = self._wait_for(service)
        LOG.info("Services reset after SIGHUP (%s)", self.restart_method)
        _service_config.log_options(self.conf)

    def run(self) -> int:
        """Serve signals until SIGTERM or ``request_stop()``; returns the exit code."""
        if self._stopped.is_set():
            return 0
        if self._handler is None:
            LOG.warning("Launcher made off the main thread: signals are not handled")
        if self.boot_failure is not None:
            self._stop_gracefully()
            return 1
        stats = process_stats.start(self.conf)
        watchdog = systemd.start_watchdog()
        systemd.notify_state(systemd.READY)
        try:
            while True:
                event = self._events.get()
                if event is _STOP:
                    return self._stop_gracefully()
                if isinstance(event, _WaitFailed):
                    LOG.error(
                        "wait() of service %s raised %s: stopping the services, status 1",
                        type(event.service).__name__,
                        type(event.error).__name__,
                    )
                    self._stop_gracefully()
                    return 1
                if event == signal.SIGTERM:
                    LOG.info("Caught SIGTERM, stopping services")
                    return self._stop_gracefully()
                if event == signal.SIGINT:
                    _fast_exit("Caught SIGINT signal, instantaneous exiting")
                if event == signal.SIGALRM:
                    _fast_exit("Caught SIGALRM signal, instantaneous exiting")
                if event == signal.SIGHUP:
                    LOG.info(
                        "Caught SIGHUP, %s the config and resetting services",
                        self.restart_method,
                    )
                    self._restart_in_background()
        finally:
            for running in (stats, watchdog):
                if running is not None:
                    running.stop()
            if self._handler is not None:
                self._handler.clear()
                # clear() knows only the handlers it holds: SIGTERM was set to
                # ignored and SIGINT replaced during the stop. Give them all back.
                for name in _HANDLED:
                    signal.signal(getattr(signal, name), signal.SIG_DFL)

    def _restart_in_background(self) -> None:
        # On a thread of its own, so that this loop still answers SIGTERM and
        # SIGINT while a stop() or start() of the restart takes its time.
        with self._restart_lock:
            if self._restart_thread is not None and self._restart_thread.is_alive():
                self._restart_again = True
                return
            self._restart_again = False
            self._restart_thread = threading.Thread(
                target=self._restart_until_caught_up, name="sighup-restart", daemon=True
            )
            self._restart_thread.start()

    def _restart_until_caught_up(self) -> None:
        while True:
            systemd.notify_state(systemd.reloading_state())
            self.restart()
            systemd.notify_state(systemd.READY)
            with self._restart_lock:
                if not self._restart_again:
                    return
                self._restart_again = False  # another SIGHUP came meanwhile

    def _current_shutdown_timeout(self) -> int:
        """Read when the stop starts, as the forking launcher's master does at wait().

        An application may set it after the launcher was built; a value that
        no longer converts (a bad file reloaded at SIGHUP) leaves the last good one.
        """
        try:
            self._shutdown_timeout = _service_opts.check_shutdown_timeout(self.conf)
        except Exception as exc:  # oslo.config raises its own errors and ValueError
            reason = f"{type(exc).__name__}: {exc}"
        else:
            return self._shutdown_timeout
        LOG.warning(
            "graceful_shutdown_timeout cannot be read (%s); using %d s",
            reason,
            self._shutdown_timeout,
        )
        return self._shutdown_timeout

    def _queue_signal(self, signo: int, frame: types.FrameType | None) -> None:
        self._events.put(signo)

    def _stop_gracefully(self) -> int:
        systemd.notify_state(systemd.STOPPING)
        if self._handler is not None:
            self._handler.ignore_handler("SIGTERM")
            # The main thread is busy stopping: queueing SIGINT would not be read.
            signal.signal(
                signal.SIGINT,
                lambda signo, frame: _fast_exit("Caught SIGINT during the graceful stop, exiting"),
            )
        timeout = self._current_shutdown_timeout()
        deadline = None
        if timeout > 0:
            deadline = threading.Timer(timeout, _stop_timed_out, args=(timeout,))
            deadline.daemon = True
            deadline.start()
        try:
            restart = self._restart_thread
            if restart is not None:
                restart.join()  # bounded by the deadline above
            self._stop_services()
            _messaging_server_fixes.finish_servers(timeout)
            _service_config.stop_executors(timeout)
        finally:
            if deadline is not None:
                deadline.cancel()
        self._stopped.set()
        LOG.info("Services stopped")
        return 0


def _stop_timed_out(timeout: int) -> None:
    try:
        _stop_dump.log_running_threads(f"This process (pid {os.getpid()})", timeout)
    finally:
        _fast_exit(f"Graceful shutdown timeout ({timeout} s) exceeded, exiting with status 1")


def _fast_exit(reason: str) -> None:
    with contextlib.suppress(Exception):
        LOG.info(reason)
    _logflush.flush_all()
    os._exit(1)
