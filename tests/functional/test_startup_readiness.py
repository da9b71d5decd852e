"""A worker has started when its service's start() returned, and SIGTERM can end any start()."""

import signal


def test_ready_is_sent_once_every_worker_start_returned(service_process):
    # READY=1 reaches the fixture's notify socket only after both slow start() calls.
    run = service_process().start("--workers", "2", "--start-seconds", "1.0", wait_ready=True)
    assert len(run.events("start-returning")) == 2
    run.send(signal.SIGTERM)
    assert run.wait_exit() == 0


def test_sigterm_stops_a_service_whose_start_serves_until_stop(service_process):
    run = service_process().start("--workers", "2", "--start-blocks")
    blocking = run.wait_for_events("start-blocking", count=2)

    run.send(signal.SIGTERM)

    # Well inside graceful_shutdown_timeout (10 s): stop() was called at once.
    assert run.wait_exit(timeout=5) == 0
    unblocked = run.events("start-unblocked")
    assert {e.pid for e in unblocked} == {e.pid for e in blocking}
