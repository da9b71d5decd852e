"""Workers that die are respawned with their number; failures never block shutdown."""

import signal


def test_killed_worker_is_respawned_with_the_same_number(service_process):
    # READY=1: every worker reported its service started. A worker killed
    # before that is a failed start, which ends the launch (test_boot_failures).
    run = service_process().start("--workers", "2", wait_ready=True)
    before = run.wait_for_workers(2)
    run.wait_for_events("started", count=2)

    run.send(signal.SIGKILL, pid=before[1])

    after = run.wait_for_workers_matching(lambda w: len(w) == 2 and w[1] != before[1])
    assert after[0] == before[0]
    run.wait_for_events("started", pid=after[1])
    run.send(signal.SIGTERM)
    assert run.wait_exit() == 0


def test_a_slot_that_started_once_is_respawned_throttled_and_does_not_block_shutdown(
    service_process,
):
    # The first worker starts; every later start() raises. The slot has started
    # once, so its crashes are respawned (with cotyledon's throttle), not fatal.
    # READY=1: the master has the worker's report that its service started; a
    # kill before that report is a failed start (test_boot_failures).
    run = service_process().start("--workers", "1", "--start-fails-once-started", wait_ready=True)
    first = run.wait_for_workers(1)
    run.wait_for_events("started", count=1)

    run.send(signal.SIGKILL, pid=first[0])

    run.wait_for_events("start-failing", count=3)
    run.wait_for_log(r"Child \d+ exited with status 1")
    log = run.log()
    assert "RuntimeError: start() fails on purpose" in log
    assert "failed before its service started" not in log
    run.wait_for_log("Forking too fast, sleeping")

    # The throttle sleeps 5 s between respawns; SIGTERM must not wait it out.
    run.send(signal.SIGTERM)
    assert run.wait_exit(timeout=3) == 0
