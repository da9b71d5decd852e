"""The master process: cotyledon's ServiceManager with its shutdown bugs fixed.

Everything here runs in the master. Each override names the cotyledon 2.2.0
behaviour it replaces; tests/functional prove each one with real workers.
``_cotyledon_compat`` lists the private names these overrides rely on.
"""

from __future__ import annotations

from collections.abc import Callable
import contextlib
import logging
import multiprocessing.context
import os
import signal
import threading
import time
from typing import Any

import cotyledon

from oslo_threading_backend import systemd
from oslo_threading_backend._processes import boot_failures as _boot_failures
from oslo_threading_backend._processes import exit as _exit
from oslo_threading_backend._processes import fork_guard as _fork_guard
from oslo_threading_backend._processes import health_monitor as _health_monitor
from oslo_threading_backend._processes import logflush as _logflush
from oslo_threading_backend._processes import shutdown_gate as _shutdown_gate
from oslo_threading_backend._processes import stop_dump as _stop_dump
from oslo_threading_backend._processes import worker_channel as _worker_channel
from oslo_threading_backend._upstream import cotyledon_compat as _cotyledon_compat
from oslo_threading_backend._upstream import cotyledon_log as _cotyledon_log
from oslo_threading_backend._upstream import messaging_preload as _messaging_preload

LOG = logging.getLogger(__name__)


class _ShuttingDown(Exception):
    """Raised inside the supervisor thread to abandon a fork during shutdown."""


#: Seconds a spawned worker may take to import the application before its first heartbeat.
_SPAWN_IMPORT_ALLOWANCE = 60.0

#: The signals cotyledon's ServiceManager takes over in the master.
_MASTER_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGALRM, signal.SIGCHLD)


class Master(cotyledon.ServiceManager):
    """Supervises the workers; one per process, created on the main thread."""

    def __init__(
        self,
        graceful_shutdown_timeout: int,
        mp_context: multiprocessing.context.BaseContext,
        wait_interval: float,
        on_reload: Callable[[], bool] | None = None,
        worker_hang_timeout: int = 0,
    ) -> None:
        """``on_reload`` runs first at SIGHUP; False means the new config was refused."""
        # Before cotyledon acts on this process (title, setsid, signal handlers).
        _cotyledon_compat.check_manager_class()
        _cotyledon_log.install()  # "killed by signal 9 (SIGKILL)", not "-9"
        # Given back when the shutdown ends, for the application's code after wait().
        self._saved_handlers = {signo: signal.getsignal(signo) for signo in _MASTER_SIGNALS}
        super().__init__(
            wait_interval=wait_interval,
            graceful_shutdown_timeout=graceful_shutdown_timeout,
            mp_context=mp_context,
        )
        _cotyledon_compat.check_manager_instance(self)
        if mp_context.get_start_method() == "spawn":
            _start_resource_tracker_ignoring_sighup()
        self.channel = _worker_channel.WorkerChannel(mp_context)
        self._gate = _shutdown_gate.ShutdownGate(on_close=self.channel.health.begin_shutdown)
        self._health = _health_monitor.HealthMonitor(
            self.channel.health,
            worker_hang_timeout,
            self._worker_numbers,
            self._dead,
            first_beat_allowance=_SPAWN_IMPORT_ALLOWANCE if self.channel.spawned else 0.0,
        )
        self._boot = _boot_failures.BootFailures(
            self._health,
            lambda: self._running_services,
            self._service_name,
            lambda: self._gate.closed,
            self._end_launch,
        )
        self._ready_sent = threading.Event()
        self._deadline_passed = threading.Event()
        self._watchdog: systemd.Watchdog | None = None
        self._on_reload = on_reload
        # Which workers the last SIGHUP reached, and how many SIGHUPs so far:
        # a worker forked during a reload but registered after it is signalled
        # by _start_worker() (a group signal used to reach it in the kernel).
        self._forward_lock = threading.Lock()
        self._reloads = 0
        self._reached_by_reload: set[int] = set()
        # First hook, so that no other hook failing can keep signals held.
        self.register_hooks(on_new_worker=_fork_guard.release_held_signals)
        self.register_hooks(on_dead_worker=self._boot.on_dead_worker)

    @property
    def graceful_shutdown_timeout(self) -> int:
        return self._graceful_shutdown_timeout

    @graceful_shutdown_timeout.setter
    def graceful_shutdown_timeout(self, value: int) -> None:
        # Read by workers forked from now on, and by the next shutdown.
        self._graceful_shutdown_timeout = value

    def _workers(self) -> list[tuple[Any, int]]:
        """(process, pid) of the workers cotyledon tracks, copied level by level.

        The supervisor thread changes these dicts while we read them, and cotyledon
        closes each process it has joined at shutdown (its pid then raises).
        """
        found = []
        for processes in list(self._running_services.values()):
            for process in list(processes):
                with contextlib.suppress(ValueError):
                    if process.pid is not None:
                        found.append((process, process.pid))
        return found

    def worker_pids(self) -> list[int]:
        return [pid for _process, pid in self._workers()]

    def _worker_numbers(self) -> list[tuple[int, int]]:
        """(pid, worker number) of the workers cotyledon tracks."""
        found = []
        for processes in list(self._running_services.values()):
            for process, info in list(processes.items()):
                with contextlib.suppress(ValueError):
                    if process.pid is not None:
                        found.append((process.pid, info.worker_id))
        return found

    def _service_name(self, service_id: Any) -> str:
        config = self._services.get(service_id)
        args = getattr(config, "args", ())
        return type(args[0]).__name__ if args else "?"

    def _end_launch(self) -> None:
        """A boot failure (supervisor thread): no more forks, graceful stop, status 1."""
        self._gate.close()
        os.kill(os.getpid(), signal.SIGTERM)

    # The signal handler proper, in the main thread before cotyledon reads the
    # signal from its pipe: the gate closes at once (see shutdown_gate).
    def _signal_catcher(self, sig: int, frame: Any) -> None:
        if sig in (signal.SIGINT, signal.SIGTERM):
            self._gate.close()

    # cotyledon 2.2.0 sends READY=1 from run(), before any worker exists; we
    # send it once every worker reported that its service's start() returned.
    def _systemd_notify_once(self) -> None:
        pass

    def run(self) -> None:
        self._health.start()
        self._watchdog = systemd.start_watchdog(is_healthy=self._healthy)
        threading.Thread(
            target=self._watch_started_workers, name="workers-started", daemon=True
        ).start()
        super().run()

    def _supervisor_alive(self) -> bool:
        return self._child_supervisor is not None and self._child_supervisor.is_alive()

    def _healthy(self) -> bool:
        """For the systemd watchdog: every worker alive (or being replaced)."""
        return self._supervisor_alive() and self._health.is_healthy()

    def _watch_started_workers(self) -> None:
        # Reads for as long as the master runs: a full pipe would block workers.
        # Blocks on the pipe, no timer (an idle master wakes for nothing): a
        # worker's report wakes it, and so do a fork and the shutdown (wake_reader).
        started: set[int] = set()
        while not self._dead.is_set():
            try:
                started.update(self.channel.started_pids(timeout=None))
                if not self._ready_sent.is_set():
                    self._notify_ready_if_all_started(started)
            except Exception:  # the thread must go on reading
                LOG.exception("Error while watching the workers start")
                self._dead.wait(0.05)

    def _notify_ready_if_all_started(self, started: set[int]) -> None:
        expected = sum(s.workers for s in list(self._services.values()))
        current = set(self.worker_pids())
        if len(current) >= expected and current <= started:
            LOG.info(
                "All %d workers started (pids %s)", expected, ", ".join(map(str, sorted(current)))
            )
            self._ready_sent.set()
            systemd.notify_state(systemd.READY)

    # cotyledon 2.2.0 forwards SIGHUP (and SIGINT, in _fast_exit) with
    # os.killpg(0, ...), to the master's whole process group. Its os.setsid()
    # fails silently when the master already leads a group (first command of
    # a shell pipeline, a shell-less container entry point, PID 1), and that
    # group then holds processes the master did not start: `prog | tee log`
    # lost its tee at SIGHUP. Signals go to the workers by pid instead.
    def _signal_workers(self, signo: int) -> set[int]:
        """Send ``signo`` to every worker cotyledon tracks; returns their pids."""
        pids = set(self.worker_pids())
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):  # died meanwhile: respawned
                os.kill(pid, signo)
        return pids

    def _reload(self) -> None:
        systemd.notify_state(systemd.reloading_state())
        try:
            accepted = self._on_reload is None or self._on_reload()
        except Exception:
            LOG.exception("Error while reloading the master's config")
            accepted = True  # as cotyledon, which logs a failing hook and goes on
        if accepted:
            self.channel.count_reload()
            self._run_hooks("reload")
            # Reset forktimes to respawn services quickly (as cotyledon does).
            self._forktimes = []
            with self._forward_lock:
                self._reloads += 1
                self._reached_by_reload = self._signal_workers(signal.SIGHUP)
        # During start-up READY=1 waits for the workers' start(), as ever.
        if self._ready_sent.is_set():
            systemd.notify_state(systemd.READY)

    def _fast_exit(
        self,
        signo: Any = None,
        frame: Any = None,
        reason: str = "Caught SIGINT signal, instantaneous exiting",
    ) -> None:
        """SIGINT (or cotyledon's SIGALRM): SIGINT to each worker, exit 1 at once."""
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGALRM, signal.SIG_IGN)
        try:
            # Before the log line: a fork in flight ends first, and is signalled.
            self._gate.close_and_wait_for_forks()
            LOG.info(reason)
            self._signal_workers(signal.SIGINT)
            _logflush.flush_all()
            # As cotyledon: a worker whose pipe to the master breaks first
            # stops gracefully (SIGTERM) instead of exiting at once.
            time.sleep(0.1)
        finally:
            os._exit(1)

    # cotyledon 2.2.0 arms signal.alarm() in the master at SIGTERM, but acts
    # on SIGALRM only in its select loop, while the master sits in join():
    # the master's timeout does nothing. A timer thread does not need the
    # main thread: it kills what is left and exits.
    def _shutdown(self) -> None:
        # cotyledon reads SIGINT only in its select loop, which a shutdown leaves
        # for join(): a Python handler still runs there, so SIGINT stays immediate.
        signal.signal(signal.SIGINT, lambda signo, frame: self._fast_exit())
        self._gate.close_and_wait_for_forks()
        systemd.notify_state(systemd.STOPPING)
        if self._watchdog is not None:
            self._watchdog.stop()
        timeout = self._graceful_shutdown_timeout
        deadline = None
        if timeout > 0:
            # Taken now: cotyledon closes each worker it has joined.
            workers = self._workers()
            deadline = threading.Timer(timeout, self._shutdown_deadline_passed, args=(workers,))
            deadline.name = "graceful-shutdown-deadline"
            deadline.daemon = True
            deadline.start()
        try:
            super()._shutdown()
        except SystemExit as exc:
            if self._boot.failed and not exc.code:
                raise SystemExit(1) from None
            raise
        finally:
            # The shutdown ended in time: the caller of wait() goes on undisturbed,
            # with its own signal handlers (cotyledon left SIGINT's fast exit,
            # SIGTERM ignored, its alarm armed and its wakeup fd).
            if deadline is not None:
                deadline.cancel()
                if self._deadline_passed.is_set():
                    # The workers ended after their dump: the deadline thread
                    # still kills what is left and exits with status 1.
                    deadline.join()
            self.channel.wake_reader()  # the workers-started thread ends
            self._give_signals_back()
            _exit.before_exit()

    def _give_signals_back(self) -> None:
        signal.alarm(0)
        with contextlib.suppress(ValueError):  # not the main thread: nothing to give back
            signal.set_wakeup_fd(-1)
            for signo, handler in self._saved_handlers.items():
                signal.signal(signo, signal.SIG_DFL if handler is None else handler)

    def _shutdown_deadline_passed(self, workers: list[tuple[Any, int]]) -> None:
        self._deadline_passed.set()
        try:
            running = []
            for process, pid in workers:
                with contextlib.suppress(ValueError):  # closed: joined and reaped
                    if process.is_alive():
                        running.append(pid)
            LOG.error(
                "Graceful shutdown timeout (%d s) exceeded: killing the workers still "
                "running (pids %s) and exiting with status 1",
                self._graceful_shutdown_timeout,
                ", ".join(str(pid) for pid in running) or "none",
            )
            # They log their threads' stacks (stop_dump) before they are killed.
            _stop_dump.ask_workers_to_dump(running)
            for pid in running:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            _logflush.flush_all()
        finally:
            # Whatever failed above, the deadline ends the master.
            os._exit(1)

    # cotyledon 2.2.0 throttles respawns with time.sleep(5) in the supervisor
    # thread, which SIGTERM then waits for: a crash-looping worker delayed
    # shutdown by up to 5 s. Sleep on the shutdown event instead. It also slept
    # wait_interval before each first fork: 10 ms per worker to READY=1.
    # A SIGHUP replaces self._forktimes (respawn quickly after a reload) from the
    # main thread while this runs in the supervisor: work on the list read once,
    # or the pop() after the 5 s wait raised IndexError and killed the supervisor.
    def _slowdown_respawn_if_needed(self) -> None:
        expected_children = sum(s.workers for s in self._services.values())
        forktimes = self._forktimes
        if len(forktimes) > expected_children:
            if time.time() - forktimes[0] < expected_children:
                LOG.info("Forking too fast, sleeping")
                self._dead.wait(5)
            forktimes.pop(0)
        elif len(forktimes) >= expected_children:
            # Not before the first forks (start-up, reload): they all go at once.
            self._dead.wait(self._wait_interval)
        if self._dead.is_set():
            raise _ShuttingDown
        # Held until _start_worker() forked: a shutdown waits for this fork.
        self._gate.enter()
        self._forktimes.append(time.time())

    def _adjust_workers(self) -> None:
        # The workers forked in a row are prepared for once, before the first.
        with _fork_guard.fork_batch():
            super()._adjust_workers()

    def _before_forks(self) -> None:
        if not self.channel.spawned:
            # What the worker's first RPC connection would import: shared, not copied.
            _messaging_preload.before_fork()

    def _start_worker(self, service_id: Any, worker_id: Any) -> None:
        reloads = self._reloads
        before = {process for process, _pid in self._workers()}
        try:
            with _fork_guard.forking_worker(self._before_forks):
                super()._start_worker(service_id, worker_id)
            # Under the gate: a shutdown's log line comes after every fork's.
            LOG.debug(
                "Forked worker %s (pid %s)",
                worker_id,
                ", ".join(str(pid) for p, pid in self._workers() if p not in before) or "?",
            )
        except (_ShuttingDown, _shutdown_gate.ShuttingDown):
            LOG.debug("Shutting down: worker %s not started", worker_id)
            return
        finally:
            self._gate.leave()
        if not self._ready_sent.is_set():
            # Its report may have come before it was counted: READY=1 is checked again.
            self.channel.wake_reader()
        with self._forward_lock:
            if self._reloads == reloads:
                return
            # A SIGHUP came while this worker was forked: it may hold the
            # config of before, and the SIGHUP did not know its pid yet.
            for process, pid in self._workers():
                if process not in before and pid not in self._reached_by_reload:
                    self._reached_by_reload.add(pid)
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGHUP)


def _start_resource_tracker_ignoring_sighup() -> None:
    """multiprocessing's resource tracker (a child of the master with 'spawn').

    The master signals its workers by pid, but an operator's ``kill -HUP
    -<pgid>`` still reaches the whole group; the tracker ignores only SIGINT
    and SIGTERM, so it died and was relaunched, losing track of what it held.
    An ignored disposition survives its exec.
    """
    from multiprocessing import resource_tracker

    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        resource_tracker.ensure_running()
    finally:
        signal.signal(signal.SIGHUP, previous)
