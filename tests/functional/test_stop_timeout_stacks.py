"""A stop that runs out graceful_shutdown_timeout logs the stacks of what still runs."""

import re
import signal

TIMEOUT_2 = {"DEFAULT": {"graceful_shutdown_timeout": 2, "worker_hang_timeout": 0}}
STOP_FRAME = r'File "[^"]*service_app\.py", line \d+, in stop\n\s+threading\.Event\(\)\.wait\(\)'


def _dumps(log, who):
    return re.findall(
        who + r": graceful_shutdown_timeout \(2 s\) exceeded; the threads still running:\n"
        r"===== Thread dump of .*?===== End of thread dump",
        log,
        re.S,
    )


def test_the_master_s_deadline_has_each_worker_log_its_stacks(service_process):
    run = service_process().start("--workers", "2", "--stop-hangs", config=TIMEOUT_2)
    workers = run.wait_for_workers(2)
    run.wait_for_events("started", count=2)

    run.send(signal.SIGTERM)

    assert run.wait_exit(timeout=15) == 1
    log = run.log()
    for number, pid in workers.items():
        (dump,) = _dumps(log, rf"Worker {number} \(pid {pid}\)")
        assert re.search(STOP_FRAME, dump), dump
    run.wait_gone(workers.values(), timeout=5)


def test_a_worker_stopped_alone_logs_its_stacks_at_its_own_timeout(service_process):
    # READY=1: started, so its exit is respawned rather than a failed start.
    run = service_process().start(
        "--workers", "2", "--stop-hangs", config=TIMEOUT_2, wait_ready=True
    )
    workers = run.wait_for_workers(2)
    run.wait_for_events("started", count=2)

    run.send(signal.SIGTERM, pid=workers[1])

    run.wait_gone([workers[1]], timeout=10)
    (dump,) = _dumps(run.log(), rf"Worker 1 \(pid {workers[1]}\)")
    assert re.search(STOP_FRAME, dump), dump
    # Not a boot failure: the slot had started, it is respawned.
    run.wait_for_workers_matching(lambda w: len(w) == 2 and w[1] != workers[1])
    run.send(signal.SIGKILL)


def test_no_fork_logs_its_stacks_at_the_timeout(service_process):
    run = service_process().start("--launcher", "no-fork", "--stop-hangs", config=TIMEOUT_2)
    run.wait_for_events("started")

    run.send(signal.SIGTERM)

    assert run.wait_exit(timeout=15) == 1
    (dump,) = _dumps(run.log(), rf"This process \(pid {run.pid}\)")
    assert re.search(STOP_FRAME, dump), dump
