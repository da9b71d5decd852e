"""The master's health monitor, against real processes and the real pipe."""

import multiprocessing
import os
import signal
import threading
import time

import pytest

from oslo_threading_backend._processes import health_channel
from oslo_threading_backend._processes import health_monitor
from oslo_threading_backend._processes import heartbeat
from tests.unit.polling import wait_until


@pytest.fixture
def beating_worker():
    """A forked process beating as worker 4 (timeout 1 s); killed at the end."""
    ctx = multiprocessing.get_context("fork")
    channel = health_channel.HealthChannel(ctx)

    def run():
        heartbeat.start_in_worker(channel, 4, 1)  # registers the dump signal too
        threading.Event().wait(60)

    process = ctx.Process(target=run, daemon=True)
    process.start()
    yield channel, process
    if process.is_alive():
        os.kill(process.pid, signal.SIGKILL)
    process.join(10)


def test_a_stopped_worker_is_killed_after_the_timeout_and_grace(beating_worker, monkeypatch):
    monkeypatch.setattr(health_monitor, "DUMP_GRACE", 0.2)
    channel, process = beating_worker
    stopped = threading.Event()
    monitor = health_monitor.HealthMonitor(
        channel, 1, lambda: [(process.pid, 4)] if process.is_alive() else [], stopped
    ).start()
    try:
        wait_until(lambda: process.pid in monitor._last_beat)
        assert monitor.is_healthy()
        time.sleep(1.5)  # longer than the timeout: a running worker stays
        assert process.is_alive()
        assert monitor.is_healthy()

        os.kill(process.pid, signal.SIGSTOP)

        process.join(10)
        assert process.exitcode == -signal.SIGKILL
        started, cause = monitor.forget(process.pid)
        assert not started
        assert cause == "hung (no heartbeat for 1 s), killed"
    finally:
        stopped.set()


def test_zero_turns_hang_detection_off(beating_worker):
    channel, process = beating_worker
    stopped = threading.Event()
    monitor = health_monitor.HealthMonitor(channel, 0, lambda: [(process.pid, 4)], stopped)
    try:
        monitor.start()
        os.kill(process.pid, signal.SIGSTOP)
        monitor._check(time.monotonic() + 3600)  # not called by the thread when off
        assert monitor.is_healthy()
    finally:
        stopped.set()
        os.kill(process.pid, signal.SIGCONT)


def test_unhealthy_while_a_worker_is_silent_and_not_being_replaced():
    channel = health_channel.HealthChannel(multiprocessing.get_context("fork"))
    stopped = threading.Event()
    monitor = health_monitor.HealthMonitor(channel, 2, lambda: [(999_999, 0)], stopped)
    assert not monitor.is_healthy()  # the monitor thread does not run
    monitor._thread = threading.current_thread()
    monitor._first_seen[999_999] = time.monotonic() - 10
    assert not monitor.is_healthy()  # hung, not yet handled
    monitor._hung[999_999] = time.monotonic()
    assert monitor.is_healthy()  # being replaced
    monitor._hung[999_999] = time.monotonic() - 60
    assert not monitor.is_healthy()  # the kill did not take


def test_a_cause_the_monitor_thread_is_recording_is_there_after_drain(monkeypatch):
    """The dead-worker hook drains, then asks for the cause: never in between.

    The monitor thread is held after it read a BOOT_FAILED record and before it
    recorded it (where, on a loaded machine, the hook's drain found the pipe
    empty and the master logged "exited with status 1" instead of the cause).
    """
    ctx = multiprocessing.get_context("fork")
    channel = health_channel.HealthChannel(ctx)
    stopped = threading.Event()
    monitor = health_monitor.HealthMonitor(channel, 0, lambda: [], stopped)
    read, release = threading.Event(), threading.Event()
    absorb = monitor._absorb

    def held_absorb(records):
        if threading.current_thread() is monitor._thread and records:
            read.set()
            release.wait(10)
        absorb(records)

    monkeypatch.setattr(monitor, "_absorb", held_absorb)

    def boot_failure():
        channel.report(health_channel.BOOT_FAILED, 2, "RuntimeError: start() fails")

    process = ctx.Process(target=boot_failure)
    process.start()
    process.join(10)
    found = []

    def dead_worker_hook():
        monitor.drain()
        found.append(monitor.forget(process.pid))

    try:
        monitor.start()
        assert read.wait(10)  # the monitor thread holds the record, unrecorded
        hook = threading.Thread(target=dead_worker_hook)
        hook.start()
        hook.join(0.5)  # without the fix the hook is done by now, empty-handed
        release.set()
        hook.join(10)
    finally:
        release.set()
        stopped.set()
    assert found == [(False, "RuntimeError: start() fails")]
