"""A task stuck on a lock in a real forked worker: one WARNING with its stack, then the INFO.

The worker's start() leaves two tasks blocked on a lock: one on the named
executor, one on the application's own futurist.ThreadPoolExecutor (reached
through the futurist fix layer the launcher applies before it forks). The
lock is released when the test creates a file.
"""

import re
import signal

from tests.functional.harness import poll
from tests.functional.runner_harness import run_command

THRESHOLD = 0.5
CONFIG = {
    "DEFAULT": {
        "graceful_shutdown_timeout": 10,
        "hung_task_threshold": THRESHOLD,
        "process_statistic_period": 0.2,
    }
}
TASK = "__main__.Inventory.claim"
OURS = r"pool stuck_task_app\.py\.default \(thread stuck_task_app\.py\.default-1\)"
FUTURIST = r"futurist ThreadPoolExecutor \(thread Thread-\d+\)"
WARNING = (
    r"WARNING oslo_threading_backend\._threads\.hung_tasks \[-\] Task {task} on {where} "
    r"has run for (\d+\.\d) s, longer than \[DEFAULT\] hung_task_threshold \(0\.5 s\): it "
    r"may be stuck\. Its thread's stack \(most recent call last\):\n"
)
INFO = (
    r"INFO oslo_threading_backend\._threads\.hung_tasks \[-\] Task {task} on {where} was "
    r"stuck for (\d+\.\d) s; it has ended"
)


def _stats_lines(log, pid):
    return re.findall(rf"Process statistics of pid {pid}: .*", log)


def test_a_task_stuck_on_a_lock_is_reported_once_with_its_stack_then_its_end(
    service_process, tmp_path
):
    release = tmp_path / "release"
    run = service_process("stuck_task_app.py").start(
        "--workers", "1", "--release-file", str(release), config=CONFIG
    )
    (pid,) = run.wait_for_workers(1).values()
    run.wait_for_events("started")
    for where in (OURS, FUTURIST):
        match = run.wait_for_log(WARNING.format(task=re.escape(TASK), where=where))
        assert float(match.group(1)) >= THRESHOLD
        # The stack follows, down to the lock the task waits for.
        stack = run.log()[match.end() :].split("\n\n")[0]
        assert re.search(
            r'File ".*stuck_task_app\.py", line \d+, in claim\n\s+with GATE:', stack
        ), stack
    # Statistics lines go on while the tasks stay stuck: several thresholds pass.
    run.wait_for_log(
        rf"Process statistics of pid {pid}: .*stuck threads 2, executors: "
        r"stuck_task_app\.py\.default \(.*stuck 1\)"
    )
    seen = len(_stats_lines(run.log(), pid))
    poll(lambda: len(_stats_lines(run.log(), pid)) >= seen + 5, what="5 more statistics lines")
    log = run.log()
    assert len(re.findall(r"WARNING .*hung_tasks", log)) == 2, log
    assert "was stuck for" not in log

    release.touch()
    run.wait_for_events("stuck-tasks-ended")
    for where in (OURS, FUTURIST):
        match = run.wait_for_log(INFO.format(task=re.escape(TASK), where=where))
        assert float(match.group(1)) >= THRESHOLD * 2
    run.wait_for_log(rf"Process statistics of pid {pid}: .*stuck threads 0, ")
    assert len(re.findall(r"WARNING .*hung_tasks", run.log())) == 2

    run.send(signal.SIGTERM)
    assert run.wait_exit() == 0


def test_a_bad_threshold_is_refused_before_any_fork_in_one_line(tmp_path):
    for value in ("-1", "ten", "nan"):
        conf = tmp_path / "bad.conf"
        conf.write_text(f"[DEFAULT]\nhung_task_threshold = {value}\n")
        done = run_command(
            "tests.functional.runner_harness:make_echo_service",
            "--config-file",
            str(conf),
            cwd=tmp_path,
        )
        assert done.returncode == 2, done.stderr
        (line,) = done.stderr.splitlines()
        assert line.startswith("oslo-threading-run: error: the config is not usable: "), line
        assert "[DEFAULT] hung_task_threshold = " in line, line
        assert value in line and " is not valid: " in line, line
        assert done.stdout == ""
