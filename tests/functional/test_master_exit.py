"""The master's exit after SIGTERM: teardown made cheap, nothing the application needs skipped."""

import signal


def test_master_exit_skips_the_heap_walk_but_keeps_logs_and_status(service_process):
    run = service_process().start("--workers", "2")
    workers = run.wait_for_workers(2)
    run.wait_for_events("started", count=2)

    run.send(signal.SIGTERM)

    assert run.wait_exit() == 0
    run.wait_gone(workers.values())
    (exit_event,) = run.events("master-exit")
    assert exit_event["code"] == "0"
    # The master froze its heap as its shutdown ended: the interpreter's final
    # collections do not walk what it imported (most of its exit time).
    assert int(exit_event["frozen"]) > 0
    log = run.log()
    for number, pid in workers.items():
        # Each worker stopped its service gracefully and flushed its last line.
        assert f"Worker {number} (pid {pid}) stopped" in log
    # The application's code after wait() ran, and its last line reached the log.
    assert log.rstrip().splitlines()[-1].endswith("Application done after wait() returned 0")
