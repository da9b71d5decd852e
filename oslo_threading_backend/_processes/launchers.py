"""The launchers: oslo.service's Launcher, ServiceLauncher and ProcessLauncher.

``ServiceLauncher`` and ``ProcessLauncher`` fork workers through our cotyledon
master (``_master``); ``ProcessLauncher(no_fork=True)`` runs the service in the
launching process (``_in_process``); ``Launcher`` runs services on threads of
the calling process with no signal handling, as in oslo.service.
"""

from __future__ import annotations

import logging
import multiprocessing.context
import os
import signal
import threading

from oslo_config import cfg

from oslo_threading_backend import backend
from oslo_threading_backend import executors
from oslo_threading_backend import process_stats
from oslo_threading_backend import thread_dump
from oslo_threading_backend._openstack import config_check as _config_check
from oslo_threading_backend._openstack import eventlet_guard as _eventlet_guard
from oslo_threading_backend._openstack import service_config as _service_config
from oslo_threading_backend._openstack import service_opts as _service_opts
from oslo_threading_backend._openstack import worker_health_opts as _worker_health_opts
from oslo_threading_backend._processes import in_process as _in_process
from oslo_threading_backend._processes import launcher_args as _launcher_args
from oslo_threading_backend._processes import master as _master
from oslo_threading_backend._processes import memory as _memory
from oslo_threading_backend._processes import service_base as _service_base
from oslo_threading_backend._processes import worker as _worker
from oslo_threading_backend._upstream import futurist_fixes as _futurist_fixes
from oslo_threading_backend._upstream import messaging_preload as _messaging_preload
from oslo_threading_backend._upstream import messaging_server_fixes as _messaging_server_fixes

LOG = logging.getLogger(__name__)


def _adopt_conf(conf: cfg.ConfigOpts) -> None:
    """The launcher's conf carries the service options and sizes the named pools.

    futurist's fixes, the fix of oslo.messaging's RPC servers and glibc's arena
    cap are applied here, in the master before any fork, so that the workers
    inherit them. Every registered option is read: a bad value raises
    :class:`~._config_check.InvalidConfigValue` here, not in a worker.
    """
    if not isinstance(conf, cfg.ConfigOpts):
        raise TypeError(f"conf must be an oslo_config.cfg.ConfigOpts, not {conf!r}")
    if backend.get_backend_type() is backend.BackendType.THREADING:
        _eventlet_guard.refuse_if_monkey_patched()
    _service_opts.register_service_opts(conf)
    _worker_health_opts.register_opts(conf)
    executors.set_conf(conf)
    thread_dump.register_opts(conf)
    process_stats.register_opts(conf)
    _messaging_server_fixes.apply_for(conf)
    _futurist_fixes.apply_for(conf)  # then logs the one line of the fixes on
    _memory.register_opts(conf)
    _messaging_preload.apply_for(conf)
    _config_check.check_values(conf)
    _memory.apply_for(conf)


def _reload_or_keep(
    conf: cfg.ConfigOpts,
    restart_method: str,
    refusal: str = "restart(): the new config is refused, the services keep the old one",
) -> bool:
    """Reload or mutate ``conf``; False, and ``refusal`` logged, if the config was refused."""
    refused = _service_config.reload_config(conf, restart_method)
    if refused is not None:
        LOG.error("%s: %s", refusal, refused)
        return False
    return True


def _log_sighup(
    master: _master.Master | None,
    restart_method: str,
    mp_context: multiprocessing.context.BaseContext,
) -> None:
    """The master's one line at SIGHUP: what it is about to do, and to how many workers."""
    workers = len(master.worker_pids()) if master is not None else 0
    if mp_context.get_start_method() == "spawn":
        then = "which restart (start method 'spawn') to take it"
    elif restart_method == "mutate":
        then = "which then reset their services"
    else:
        then = "which then restart their services"
    LOG.info(
        "Caught SIGHUP: %s the config of the master (pid %d) and of its %d worker%s, %s",
        "mutating" if restart_method == "mutate" else "reloading",
        os.getpid(),
        workers,
        "" if workers == 1 else "s",
        then,
    )


class Launcher:
    """Run services on threads of this process; no signals, no workers."""

    def __init__(self, conf: cfg.ConfigOpts, restart_method: str = "reload") -> None:
        _service_base.check_restart_method(restart_method)
        self.conf = conf
        _adopt_conf(conf)
        self.services = _service_base.Services(restart_method=restart_method)
        self.backdoor_port = None
        self.restart_method = restart_method

    def launch_service(self, service: _service_base.ServiceBase, workers: int | None = 1) -> None:
        _service_base.check_service_base(service)
        if _launcher_args.check_workers(workers) != 1:
            raise ValueError(
                f"Launcher runs one instance of a service: workers must be 1, not {workers}"
            )
        self.services.add(service)

    def stop(self) -> None:
        self.services.stop()

    def wait(self) -> None:
        self.services.wait()

    def restart(self) -> None:
        if _reload_or_keep(self.conf, self.restart_method):
            self.services.restart()


class _ForkingLauncher:
    """Forks workers for each launched service and supervises them until SIGTERM."""

    def __init__(
        self,
        conf: cfg.ConfigOpts,
        restart_method: str = "reload",
        start_method: str | None = None,
        wait_interval: float | None = None,
    ) -> None:
        _service_base.check_restart_method(restart_method)
        self._mp_context = _launcher_args.check_start_method(start_method)
        self._wait_interval = _launcher_args.check_wait_interval(wait_interval)
        self.conf = conf
        _adopt_conf(conf)
        self.restart_method = restart_method
        self.start_method = start_method
        self.backdoor_port = None
        self._lock = threading.Lock()
        self._pending: list[tuple[_service_base.ServiceBase, int]] = []
        self._master: _master.Master | None = None
        self._stop_requested = False
        self._finished = threading.Event()

    def launch_service(self, service: _service_base.ServiceBase, workers: int | None = 1) -> None:
        """Register the service; its workers are forked by ``wait()`` (or at once if running)."""
        _service_base.check_service_base(service)
        workers = _launcher_args.check_workers(workers)
        if self._mp_context.get_start_method() == "spawn":
            _launcher_args.check_spawnable(service, self.conf)
        service.backdoor_port = self.backdoor_port
        with self._lock:
            if self._master is None:
                self._pending.append((service, workers))
                return
            self._add_to_master(service, workers)
        # A running master forks on its next supervisor round.
        self._master._got_sig_chld.set()

    def _add_to_master(self, service: _service_base.ServiceBase, workers: int) -> None:
        assert self._master is not None
        self._master.add(
            _worker.ServiceWrapper,
            workers,
            args=(service, self.conf, self.restart_method, self._master.channel),
        )

    def wait(self) -> int:
        """Fork the workers and supervise them; returns the exit code after SIGTERM.

        Must run on the main thread: the master handles the signals. SIGINT
        exits the process at once with status 1.
        """
        if threading.current_thread() is not threading.main_thread():
            raise RuntimeError(
                "wait() must be called from the main thread: the master handles signals"
            )
        with self._lock:
            if self._stop_requested:
                return 0
            self._master = _master.Master(
                graceful_shutdown_timeout=_service_opts.check_shutdown_timeout(self.conf),
                mp_context=self._mp_context,
                wait_interval=self._wait_interval,
                on_reload=self._on_master_reload,
                worker_hang_timeout=_worker_health_opts.check_worker_hang_timeout(self.conf),
            )
            for service, workers in self._pending:
                self._add_to_master(service, workers)
            self._pending.clear()
            # Options registered since the launcher was made are read before any fork.
            _config_check.check_values(self.conf)
            # Installed before the first fork: forked workers inherit the handler.
            thread_dump.install(self.conf)
        _service_config.log_options(self.conf)
        try:
            self._master.run()
        except SystemExit as exc:
            code = exc.code
            return code if isinstance(code, int) else (0 if code is None else 1)
        finally:
            self._finished.set()
        return 0  # pragma: no cover - run() only ends by SystemExit

    def _on_master_reload(self) -> bool:
        """SIGHUP in the master; False (the config refused) means no worker is signalled."""
        _log_sighup(self._master, self.restart_method, self._mp_context)
        # Workers forked from now on start from the master's copy of the config.
        refusal = (
            f"SIGHUP: the new config is refused, the master (pid {os.getpid()}) and its "
            "workers keep the old one"
        )
        if not _reload_or_keep(self.conf, self.restart_method, refusal):
            return False
        if self._master is not None:
            self._master.graceful_shutdown_timeout = _service_opts.shutdown_timeout_or_last_good(
                self.conf
            )
        _service_config.log_options(self.conf)
        return True

    def stop(self) -> None:
        """Graceful shutdown, as on SIGTERM; from another thread it waits for it to end."""
        with self._lock:
            if self._master is None:
                self._stop_requested = True
                return
        os.kill(os.getpid(), signal.SIGTERM)
        if threading.current_thread() is not threading.main_thread():
            self._finished.wait()

    def restart(self) -> None:
        """As SIGHUP: the master and every worker reload (or mutate) their config."""
        with self._lock:
            running = self._master is not None and not self._finished.is_set()
        if running:
            os.kill(os.getpid(), signal.SIGHUP)
            return
        if not _reload_or_keep(self.conf, self.restart_method):
            return
        for service, _workers in self._pending:
            service.reset()


class ServiceLauncher(_ForkingLauncher):
    """Runs a service in forked workers (one by default), like oslo.service's threading backend."""

    def __init__(
        self,
        conf: cfg.ConfigOpts,
        restart_method: str = "reload",
        start_method: str | None = None,
    ) -> None:
        super().__init__(conf, restart_method=restart_method, start_method=start_method)

    def launch_service(
        self, service_instance: _service_base.ServiceBase, workers: int | None = 1
    ) -> None:
        """As ProcessLauncher's; the argument keeps oslo.service's name here."""
        super().launch_service(service_instance, workers)


class ProcessLauncher(_ForkingLauncher):
    """Runs services in N forked workers, or in this process with ``no_fork=True``."""

    def __init__(
        self,
        conf: cfg.ConfigOpts,
        wait_interval: float | None = None,
        restart_method: str = "reload",
        no_fork: bool = False,
        start_method: str | None = None,
    ) -> None:
        super().__init__(
            conf,
            restart_method=restart_method,
            start_method=start_method,
            wait_interval=wait_interval,
        )
        if not isinstance(no_fork, bool):
            raise TypeError(f"no_fork must be True or False, not {no_fork!r}")
        self.no_fork = no_fork
        self._runner = _in_process.InProcessRunner(conf, restart_method) if no_fork else None
        # oslo.service's attributes: the service run here and its signal handler.
        self.service: _service_base.ServiceBase | None = None
        self.signal_handler = self._runner.signal_handler if self._runner else None

    def add_signal_handlers(self) -> None:
        """(Re)install this process's handlers for SIGTERM, SIGINT, SIGHUP and SIGALRM.

        With ``no_fork`` they are installed at construction already; call this
        after code that replaced them. A forking launcher's master installs its
        own handlers when ``wait()`` starts, so there is nothing to do before.
        """
        if self._runner is not None:
            self._runner.install_signal_handlers()

    def launch_service(self, service: _service_base.ServiceBase, workers: int | None = 1) -> None:
        if self._runner is None:
            super().launch_service(service, workers)
            return
        _service_base.check_service_base(service)
        _launcher_args.check_workers(workers)
        if workers not in (None, 1):
            LOG.warning(
                "no_fork=True: running one instance of the service, not %d workers", workers
            )
        LOG.info("no_fork=True: running service %s in this process", type(service).__name__)
        self._runner.add(service)
        self.service = service

    def wait(self) -> int:
        if self._runner is None:
            return super().wait()
        _config_check.check_values(self.conf)
        _service_config.log_options(self.conf)
        return self._runner.run()

    def stop(self) -> None:
        if self._runner is None:
            super().stop()
            return
        self._runner.request_stop()

    def restart(self) -> None:
        if self._runner is None:
            super().restart()
            return
        self._runner.restart()


def launch(
    conf: cfg.ConfigOpts,
    service: _service_base.ServiceBase,
    workers: int | None = 1,
    restart_method: str = "reload",
    no_fork: bool = False,
    start_method: str | None = None,
) -> ServiceLauncher | ProcessLauncher:
    """Launch a service with a given number of workers; returns without blocking.

    Call ``wait()`` on the returned launcher: it returns the exit code.
    """
    workers = _launcher_args.check_workers(workers)
    _service_base.check_service_base(service)
    launcher: ServiceLauncher | ProcessLauncher
    if workers == 1 and not no_fork:
        launcher = ServiceLauncher(conf, restart_method=restart_method, start_method=start_method)
    else:
        launcher = ProcessLauncher(
            conf, restart_method=restart_method, no_fork=no_fork, start_method=start_method
        )
    launcher.launch_service(service, workers=workers)
    return launcher
