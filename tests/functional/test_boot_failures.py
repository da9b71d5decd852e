"""A worker that fails before its slot ever started ends the launch with status 1.

oslo.service's ServiceLauncherTest.test_crashed_service asserts exit status 1
for a service whose start() raises; cotyledon respawned it forever.
"""

import re
import signal

import pytest

from tests.functional.harness import poll
from tests.functional.test_oslo_threading_exec import exec_command
from tests.functional.test_oslo_threading_exec import needs_oslo_service

BOOT_FAILURE = (
    r"ERROR \S+ \[-\] Worker (\d+) \(pid (\d+)\) of service AppService failed before "
    r"its service started: (.*?)\. A service"
)


def _boot_failure_lines(log):
    return re.findall(BOOT_FAILURE, log)


@pytest.mark.parametrize(
    "launcher,workers,start_method",
    [("process", "3", "fork"), ("service", "1", "fork"), ("launch", "2", "spawn")],
)
def test_a_start_that_raises_ends_the_launch_with_status_1_and_one_error_line(
    service_process, launcher, workers, start_method
):
    run = service_process().start(
        "--launcher",
        launcher,
        "--workers",
        workers,
        "--start-method",
        start_method,
        "--start-fails",
    )

    assert run.wait_exit(timeout=15) == 1

    log = run.log()
    lines = _boot_failure_lines(log)
    assert len(lines) == 1, log
    number, pid, cause = lines[0]
    assert cause == "RuntimeError: start() fails on purpose"
    # No respawn loop: each slot's worker tried once at most.
    assert len(run.events("start-failing")) <= int(workers)
    assert "Forking too fast" not in log
    assert run.events("master-exit", code=1)
    # Every worker the run started has ended.
    pids = {event.pid for event in run.events("start-begin")}
    run.wait_gone(pids, timeout=5)


def test_the_other_workers_are_stopped_gracefully(service_process):
    # One worker's start() raises after 1 s; the other two have started by then.
    run = service_process().start(
        "--workers", "3", "--start-seconds", "1", "--start-fails-in-one-worker"
    )
    started = run.wait_for_events("started", count=2)

    assert run.wait_exit(timeout=20) == 1

    log = run.log()
    assert len(_boot_failure_lines(log)) == 1, log
    # The workers that serve stop as in a shutdown: stop(), then wait() returns.
    for event in started:
        assert run.events("stopping", pid=event.pid)
        assert run.events("stopped", pid=event.pid)
    assert len(run.events("start-failing")) == 1


def test_a_worker_killed_before_its_service_started_ends_the_launch(service_process):
    run = service_process().start("--workers", "2", "--start-seconds", "30")
    (begun, *_) = run.wait_for_events("start-begin", count=1)

    run.send(signal.SIGKILL, pid=begun.pid)

    assert run.wait_exit(timeout=15) == 1
    lines = _boot_failure_lines(run.log())
    assert len(lines) == 1
    assert lines[0][1] == str(begun.pid)
    assert lines[0][2] == "killed by signal 9 (SIGKILL)"


def test_no_fork_start_that_raises_exits_1_with_one_error_line(service_process):
    run = service_process().start("--launcher", "no-fork", "--start-fails")

    assert run.wait_exit(timeout=15) == 1

    log = run.log()
    found = re.findall(
        r"ERROR \S+ \[-\] Service AppService failed to start in this process \(no_fork\): "
        r"RuntimeError: start\(\) fails on purpose",
        log,
    )
    assert len(found) == 1, log
    assert run.events("master-exit", code=1)


def test_a_slow_start_is_not_a_failure(service_process):
    run = service_process().start("--workers", "2", "--start-seconds", "1")
    run.wait_for_events("started", count=2)
    poll(lambda: len(run.workers()) == 2, what="2 workers")
    run.send(signal.SIGTERM)
    assert run.wait_exit() == 0
    assert not _boot_failure_lines(run.log())


@needs_oslo_service
def test_an_unmodified_oslo_service_program_whose_start_raises_exits_1(service_process):
    # oslo.service's ServiceLauncherTest.test_crashed_service, on our launcher.
    run = service_process("oslo_service_app.py")
    run.command_prefix = exec_command()
    run.start("--workers", "1", "--start-fails")

    assert run.wait_exit(timeout=15) == 1
    (launched,) = run.events("launched")
    assert launched["launcher"] == "oslo_threading_backend.service.ServiceLauncher"
    assert len(run.events("start-failing")) == 1
    assert "failed before its service started: ValueError: start() fails on purpose" in run.log()
