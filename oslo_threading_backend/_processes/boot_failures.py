"""A worker that fails before its slot ever started ends the launch.

cotyledon 2.2.0 respawns every dead worker, throttled to one fork per second
per worker: a service whose ``start()`` raises logged a traceback every few
seconds forever, and SIGTERM then exited 0 although nothing ever ran.
oslo.service's eventlet launcher exits 1 (its ``test_crashed_service``), and
gunicorn halts when a worker fails to boot; systemd's ``Restart=`` and its
back-off only help a process that exits.

A slot is a worker number of a service. Until one worker of the slot reported
that its service's ``start()`` returned, a worker of that slot that dies with a
non-zero status (or a signal) is a boot failure: one ERROR line with the cause,
the other workers stopped gracefully, exit status 1. Once the slot has
started, later deaths are respawned as cotyledon does, with its throttle.
"""

from __future__ import annotations

from collections.abc import Callable
import logging
import signal
import threading
from typing import Any

from oslo_threading_backend._processes import health_monitor as _health_monitor

LOG = logging.getLogger(__name__)


class BootFailures:
    def __init__(
        self,
        monitor: _health_monitor.HealthMonitor,
        running_services: Callable[[], dict[Any, dict[Any, Any]]],
        service_name: Callable[[Any], str],
        shutting_down: Callable[[], bool],
        end_launch: Callable[[], None],
    ) -> None:
        self._monitor = monitor
        self._running_services = running_services
        self._service_name = service_name
        self._shutting_down = shutting_down
        self._end_launch = end_launch
        self._started_slots: set[tuple[Any, int]] = set()
        self._lock = threading.Lock()
        self.failed = False

    def on_dead_worker(self, service_id: Any, worker_id: int, exit_code: int) -> None:
        """cotyledon's dead_worker hook, in its supervisor thread, before any respawn."""
        pid = self._dead_pid(service_id, worker_id)
        self._monitor.drain()
        started, cause = self._monitor.forget(pid) if pid is not None else (False, None)
        slot = (service_id, worker_id)
        with self._lock:
            if started:
                self._started_slots.add(slot)
            if (
                slot in self._started_slots
                or exit_code == 0  # a graceful stop (a reload of a spawned worker)
                or self._shutting_down()
            ):
                return
            first = not self.failed
            self.failed = True
        if not first:
            LOG.debug("Worker %d (pid %s) also failed to start: %s", worker_id, pid, cause)
            return
        LOG.error(
            "Worker %d (pid %s) of service %s failed before its service started: %s. "
            "A service that cannot start is not respawned: stopping the other workers, "
            "exit status 1",
            worker_id,
            pid,
            self._service_name(service_id),
            cause or _describe_exit(exit_code),
        )
        self._end_launch()

    def _dead_pid(self, service_id: Any, worker_id: int) -> int | None:
        for process, info in list(self._running_services().get(service_id, {}).items()):
            try:
                if info.worker_id == worker_id and not process.is_alive():
                    return process.pid
            except ValueError:  # closed
                continue
        return None


def _describe_exit(exit_code: int) -> str:
    if exit_code < 0:
        try:
            name = signal.Signals(-exit_code).name
        except ValueError:
            name = "unknown"
        return f"killed by signal {-exit_code} ({name})"
    return f"exited with status {exit_code}"
