"""The master side of the health channel: who started, why one failed, who hangs.

A thread of the master reads the workers' records (``health_channel``). It
remembers which worker pids reported their service started and the cause a
worker gave for failing to start (``boot_failures`` asks). With
``worker_hang_timeout`` set, a worker whose heartbeat stopped for that long is
hung: the master logs it, has it dump its threads' stacks (faulthandler, from
C: it works when no Python code runs), waits a short grace for the dump to be
written, kills it with SIGKILL, and cotyledon's supervisor forks another
worker with the same number.
"""

from __future__ import annotations

from collections.abc import Callable
import contextlib
import logging
import os
import signal
import threading
import time

from oslo_threading_backend._processes import health_channel as _health_channel
from oslo_threading_backend._processes import heartbeat as _heartbeat

LOG = logging.getLogger(__name__)

#: Seconds between the dump request and SIGKILL: faulthandler writes in milliseconds.
DUMP_GRACE = 2.0


class HealthMonitor:
    def __init__(
        self,
        channel: _health_channel.HealthChannel,
        timeout: int,
        workers: Callable[[], list[tuple[int, int]]],
        stopped: threading.Event,
        first_beat_allowance: float = 0.0,
    ) -> None:
        """``workers()`` lists the (pid, worker number) of the workers cotyledon tracks.

        A worker that never sent a heartbeat gets ``first_beat_allowance``
        seconds more than the timeout: a spawned worker imports the
        application before its heartbeat starts.
        """
        self.channel = channel
        self.timeout = timeout
        self._first_beat_allowance = first_beat_allowance
        channel.hang_timeout = timeout  # read by the workers forked from now on
        self._workers = workers
        self._stopped = stopped
        # Off: the thread only reads the started and failed records, blocking
        # (an idle master wakes for nothing); on: a round per heartbeat interval.
        self._round = _heartbeat.interval_for(timeout) if timeout > 0 else None
        self._lock = threading.Lock()
        self._intake = threading.Lock()  # reading the channel and recording what it said
        self._started: set[int] = set()
        self._causes: dict[int, str] = {}
        self._last_beat: dict[int, float] = {}
        self._first_seen: dict[int, float] = {}
        self._hung: dict[int, float] = {}  # pid: when the dump was asked for
        self._killed: set[int] = set()
        self._last_round = time.monotonic()
        self._thread: threading.Thread | None = None

    def start(self) -> HealthMonitor:
        self._thread = threading.Thread(target=self._run, name="worker-health", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stopped.is_set():
            try:
                self.channel.readable(self._round)  # waits holding no lock
                self.drain()
                if self.timeout > 0:
                    self._check(time.monotonic())
                self._last_round = time.monotonic()
            except Exception:  # the thread must go on reading
                LOG.exception("Error while watching the workers' health")
                self._stopped.wait(self._round or 1.0)

    def drain(self) -> None:
        """Read and record what the workers wrote so far (a dead worker's records are all there).

        Reading and recording are one step under ``_intake``: when ``drain()``
        returns in the dead-worker hook, a record the monitor thread read just
        before (a BOOT_FAILED cause) is recorded too, not in that thread's hands.
        """
        with self._intake:
            self._absorb(self.channel.receive(0))

    def _absorb(self, records: list[_health_channel.Record]) -> None:
        now = time.monotonic()
        with self._lock:
            for record in records:
                if record.kind == _health_channel.BEAT:
                    self._last_beat[record.pid] = now
                elif record.kind == _health_channel.STARTED:
                    self._started.add(record.pid)
                elif record.kind == _health_channel.BOOT_FAILED:
                    self._causes[record.pid] = record.text

    # Asked when a worker died (supervisor thread) --------------------------
    def forget(self, pid: int) -> tuple[bool, str | None]:
        """(did it report its service started, why it failed); forgets the pid."""
        with self._lock:
            started = pid in self._started
            self._started.discard(pid)
            cause = self._causes.pop(pid, None)
            if cause is None and pid in self._hung:
                cause = f"hung (no heartbeat for {self.timeout} s), killed"
            for table in (self._last_beat, self._first_seen, self._hung):
                table.pop(pid, None)
            self._killed.discard(pid)
        return started, cause

    # Hung workers ----------------------------------------------------------
    def _check(self, now: float) -> None:
        live = dict(self._workers())
        with self._lock:
            for table in (self._last_beat, self._first_seen):
                for pid in [p for p in table if p not in live]:
                    # Not tracked (yet): a beat comes again, the first sight is retaken.
                    del table[pid]
            due = []
            hung = []
            for pid, number in live.items():
                if pid in self._hung:
                    if pid not in self._killed and now >= self._hung[pid] + DUMP_GRACE:
                        due.append((pid, number))
                    continue
                last = self._last_beat.get(pid)
                if last is None:
                    last = self._first_seen.setdefault(pid, now) + self._first_beat_allowance
                if now - last > self.timeout:
                    self._hung[pid] = now
                    hung.append((pid, number, now - last, pid in self._last_beat))
        for pid, number, silent, beat_once in hung:
            if not beat_once:
                silent += self._first_beat_allowance
            self._ask_for_dump(pid, number, silent, beat_once)
        for pid, number in due:
            self._kill(pid, number)

    def _ask_for_dump(self, pid: int, number: int, silent: float, beat_once: bool) -> None:
        LOG.error(
            "Worker %d (pid %d) is hung: no heartbeat for %.1f s (worker_hang_timeout = %d s), "
            "its interpreter runs no Python code. %s; it is killed (SIGKILL) in %.0f s and "
            "replaced by a new worker %d",
            number,
            pid,
            silent,
            self.timeout,
            "Its threads' stacks follow in its log or stderr (faulthandler)"
            if beat_once
            else "It never sent a heartbeat: no thread dump",
            DUMP_GRACE,
            number,
        )
        if not beat_once:
            return  # no handler registered: the signal would only kill it
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, _heartbeat.DUMP_SIGNAL)
            # A stopped worker (SIGSTOP) writes its dump once continued.
            os.kill(pid, signal.SIGCONT)

    def _kill(self, pid: int, number: int) -> None:
        with self._lock:
            self._killed.add(pid)
        LOG.info("Killing hung worker %d (pid %d)", number, pid)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)

    # systemd watchdog ------------------------------------------------------
    def is_healthy(self) -> bool:
        """Every worker beats or is being replaced, and this monitor still runs."""
        now = time.monotonic()
        if self._thread is None or not self._thread.is_alive():
            return False
        if self._round is None:
            return True  # no heartbeats: alive is all that can be told
        if now - self._last_round > max(5.0, 5 * self._round):
            return False
        with self._lock:
            for pid in [pid for pid, _number in self._workers()]:
                if pid in self._hung:
                    # Being replaced; a kill that does not take (D state) is not.
                    if now - self._hung[pid] > DUMP_GRACE + self.timeout:
                        return False
                    continue
                last = self._last_beat.get(pid)
                if last is None:
                    last = self._first_seen.get(pid, now) + self._first_beat_allowance
                if now - last > self.timeout:
                    return False
        return True
