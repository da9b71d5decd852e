"""SIGTERM: a graceful shutdown, bounded by graceful_shutdown_timeout, master included."""

import re
import signal

import pytest

from tests.functional.harness import children


def test_sigterm_stops_every_worker_and_lets_requests_finish(service_process):
    run = service_process().start("--workers", "2", "--request-seconds", "0.5")
    workers = run.wait_for_workers(2)
    run.wait_for_events("started", count=2)

    run.send(signal.SIGTERM)
    assert run.wait_exit() == 0

    for pid in workers.values():
        names = [e.name for e in run.events() if e.pid == pid]
        assert "stopping" in names and names[-1] == "stopped", names
        # The request in flight when stop() was called ran to its end.
        assert run.events("request-finished", pid=pid, stopping=True), names
        assert names.index("stopping") < names.index("stopped")
    assert run.events("master-exit", code=0)
    run.wait_gone(workers.values())
    # Each worker's named pool logged its final state (every thread came back
    # idle), and the worker's last line was flushed before it exited.
    log = run.log()
    for number, pid in workers.items():
        assert f"Worker {number} (pid {pid}) stopped" in log
        assert re.search(
            rf" {pid} INFO oslo_threading_backend.pool_statistics .*"
            r"State of service_app.py.default ThreadPoolExecutor at shutdown: "
            r"max_workers: 10, workers: (\d+), idle workers: \1,",
            log,
        ), log


def test_shutdown_is_bounded_when_a_service_stop_hangs(service_process):
    run = service_process().start(
        "--workers",
        "2",
        "--stop-hangs",
        config={"DEFAULT": {"graceful_shutdown_timeout": 2}},
    )
    workers = run.wait_for_workers(2)
    run.wait_for_events("started", count=2)

    run.send(signal.SIGTERM)
    run.wait_for_events("stopping", count=2)
    code = run.wait_exit(timeout=15)

    assert code != 0
    run.wait_gone(workers.values(), timeout=5)
    assert "Graceful shutdown timeout" in run.log()


@pytest.mark.parametrize("launcher", ["no-fork", "process"])
def test_a_shutdown_timeout_set_after_the_launcher_was_built_bounds_the_stop(
    service_process, launcher
):
    run = service_process().start(
        "--launcher",
        launcher,
        "--workers",
        "1",
        "--stop-hangs",
        "--timeout-after-launch",
        "1",
        config={"DEFAULT": {"graceful_shutdown_timeout": 60}},
    )
    run.wait_for_events("started")

    run.send(signal.SIGTERM)
    run.wait_for_events("stopping")

    assert run.wait_exit(timeout=20) == 1
    assert "Graceful shutdown timeout (1 s) exceeded" in run.log()


def test_master_timeout_kills_workers_even_when_they_never_time_out(service_process):
    # The master alone bounds shutdown: cotyledon 2.2.0's master alarm did nothing.
    run = service_process("hanging_app.py").start(
        "--workers", "1", config={"DEFAULT": {"graceful_shutdown_timeout": 2}}
    )
    workers = run.wait_for_workers(1)
    run.wait_for_events("started")

    run.send(signal.SIGTERM)
    assert run.wait_exit(timeout=15) == 1
    run.wait_gone(workers.values(), timeout=5)
    assert (
        "Graceful shutdown timeout (2 s) exceeded: killing the workers still running" in run.log()
    )


def test_second_sigterm_during_shutdown_is_ignored(service_process):
    run = service_process().start("--workers", "2", "--request-seconds", "1.5")
    workers = run.wait_for_workers(2)
    run.wait_for_events("started", count=2)

    run.send(signal.SIGTERM)
    run.wait_for_events("stopping", count=2)
    run.send(signal.SIGTERM)

    assert run.wait_exit() == 0
    for pid in workers.values():
        assert run.events("request-finished", pid=pid, stopping=True)
        assert run.events("stopped", pid=pid)


def test_sigterm_while_workers_are_being_forked_shuts_down_cleanly(service_process):
    run = service_process().start("--workers", "3", "--slow-worker-setup", "1.0")
    run.wait_for_events("forked")

    run.send(signal.SIGTERM)

    assert run.wait_exit() == 0
    run.wait_gone(children(run.pid) + [e.pid for e in run.events("forked")])


def test_deadline_kills_the_worker_still_running_when_others_already_stopped(service_process):
    # Worker 0 stops at once (cotyledon joins and closes it), worker 1 hangs.
    run = service_process("hanging_app.py")
    run.extra_env = {"HANG_WORKER": "1"}
    run.start("--workers", "2", config={"DEFAULT": {"graceful_shutdown_timeout": 2}})
    workers = run.wait_for_workers(2)
    run.wait_for_events("started", count=2)

    run.send(signal.SIGTERM)

    assert run.wait_exit(timeout=15) == 1
    run.wait_gone(workers.values(), timeout=5)
    assert f"killing the workers still running (pids {workers[1]})" in run.log()


def test_a_shutdown_that_ended_in_time_leaves_the_application_alone(service_process):
    # After wait() returned 0, the deadline timer must not end the process.
    run = service_process().start(
        "--workers",
        "2",
        "--linger-after-wait",
        "2.5",
        config={"DEFAULT": {"graceful_shutdown_timeout": 1}},
    )
    run.wait_for_events("started", count=2)

    run.send(signal.SIGTERM)

    assert run.wait_exit() == 0
    assert run.events("lingered")


def test_after_wait_returned_the_signals_are_the_applications_again(service_process):
    # The master's SIGINT fast exit (os._exit(1)) and SIGTERM-ignored state stayed
    # installed after wait() returned: the application's own clean-up could not be
    # interrupted the usual way.
    run = service_process().start("--workers", "1", "--linger-after-wait", "30")
    run.wait_for_events("started", count=1)
    run.send(signal.SIGTERM)
    run.wait_for_events("lingering", count=1)

    run.send(signal.SIGINT)

    assert run.wait_exit() == 130
    assert run.events("interrupted-after-wait")
