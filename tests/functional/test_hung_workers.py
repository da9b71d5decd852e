"""A worker whose interpreter stops running Python is dumped, killed and replaced.

Each worker's heartbeat thread needs the interpreter: SIGSTOP, or a C call
holding the GIL, stops it. After ``worker_hang_timeout`` the master logs the
worker, has faulthandler write its threads' stacks (from C: no Python needed),
kills it and forks another with the same number and title.
"""

import re
import signal

import pytest

from tests.functional.harness import poll
from tests.functional.runner_harness import run_command

HANG = {"DEFAULT": {"graceful_shutdown_timeout": 10, "worker_hang_timeout": 2}}
ECHO = "tests.functional.runner_harness:make_echo_service"


def _hung_line(run, pid):
    return run.wait_for_log(
        rf"ERROR \S+ \[-\] Worker (\d+) \(pid {pid}\) is hung: no heartbeat for [\d.]+ s "
        r"\(worker_hang_timeout = 2 s\)"
    )


@pytest.mark.parametrize("start_method", ["fork", "spawn"])
def test_a_stopped_worker_is_dumped_killed_and_respawned_with_the_same_title(
    service_process, start_method
):
    run = service_process().start(
        "--workers",
        "2",
        "--start-method",
        start_method,
        "--launcher",
        "process",
        config=HANG,
        wait_ready=True,  # reported started: a hang now is not a failed start
    )
    before = run.wait_for_workers(2)
    run.wait_for_events("started", count=2)
    titles = run.fixture.titles()
    stopped = before[1]

    run.send(signal.SIGSTOP, pid=stopped)

    assert _hung_line(run, stopped).group(1) == "1"
    # faulthandler's dump, written by the stopped worker once continued.
    run.wait_for_log(r"Thread 0x[0-9a-f]+ \(most recent call first\)")
    run.wait_gone([stopped], timeout=10)
    after = run.wait_for_workers_matching(lambda w: len(w) == 2 and w[1] != stopped)
    assert after[0] == before[0]
    assert run.fixture.titles()[after[1]] == titles[stopped]
    run.wait_for_events("started", pid=after[1])
    log = run.log()
    assert f"Child {stopped} killed by signal SIGKILL" in log or str(stopped) in log

    run.send(signal.SIGTERM)
    assert run.wait_exit() == 0


def test_a_worker_holding_the_gil_is_dumped_at_its_c_call_and_replaced(service_process):
    run = service_process().start("--workers", "2", "--hang-holding-the-gil", config=HANG)
    (hang,) = run.wait_for_events("gil-hang")

    _hung_line(run, hang.pid)
    # The stack of the thread in the C call, from faulthandler.
    run.wait_for_log(r'File "[^"]*service_app\.py", line \d+ in _hold_the_gil')
    run.wait_gone([hang.pid], timeout=10)
    run.wait_for_workers_matching(lambda w: len(w) == 2 and hang.pid not in w.values())
    run.wait_for_events("started", count=3)
    # The first worker started with the hang; the log says it once.
    assert len(re.findall(rf"\(pid {hang.pid}\) is hung", run.log())) == 1

    run.send(signal.SIGTERM)
    assert run.wait_exit() == 0


def test_a_busy_worker_that_runs_python_is_not_hung(service_process):
    # Requests every 50 ms for 3 timeouts: the heartbeat thread still gets the GIL.
    run = service_process().start("--workers", "2", "--request-seconds", "0.05", config=HANG)
    workers = run.wait_for_workers(2)
    run.wait_for_events("request-finished", count=120)
    assert "is hung" not in run.log()
    assert run.workers() == workers
    run.send(signal.SIGTERM)
    assert run.wait_exit() == 0


@pytest.mark.parametrize("value", ["-1", "5s", "soon"])
def test_a_bad_worker_hang_timeout_is_one_line_before_any_fork(tmp_path, value):
    conf = tmp_path / "bad.conf"
    conf.write_text(f"[DEFAULT]\nworker_hang_timeout = {value}\n")

    done = run_command(ECHO, "--config-file", str(conf), cwd=tmp_path)

    assert done.returncode == 2, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("oslo-threading-run: error: the config is not usable: ")
    assert "worker_hang_timeout" in lines[0]
    assert done.stdout == ""  # nothing started, nothing logged


def test_a_bad_worker_hang_timeout_fails_the_launcher_before_any_fork(service_process):
    run = service_process().start(config={"DEFAULT": {"worker_hang_timeout": -5}})
    assert run.wait_exit() != 0
    assert "[DEFAULT] worker_hang_timeout must be a number of seconds >= 0" in run.log()
    assert not run.events("start-begin")
    poll(lambda: not run.fixture.worker_pids(), timeout=2, what="no worker")


def test_a_worker_hung_before_its_first_heartbeat_is_a_failed_start(service_process):
    # As a worker deadlocked right after the fork: no heartbeat, no service.
    run = service_process().start("--workers", "2", "--hang-after-fork", config=HANG)
    (hang,) = run.wait_for_events("hang-after-fork")

    assert run.wait_exit(timeout=20) == 1

    log = run.log()
    assert f"(pid {hang.pid}) is hung" in log
    assert "It never sent a heartbeat: no thread dump" in log
    assert re.search(
        rf"\(pid {hang.pid}\) of service AppService failed before its service started: "
        r"hung \(no heartbeat for 2 s\), killed",
        log,
    ), log
    run.wait_gone([hang.pid], timeout=5)
