"""SIGTERM with an idle futurist.ThreadPoolExecutor in each worker, against the real futurist.

futurist's idle poll (ThreadWorker.MAX_IDLE_FOR) is made 5 s in the program, so
"woken at once" and "waited out the poll" differ by seconds: the behaviour of
[DEFAULT] futurist_fast_shutdown, on (the default) and off.
"""

import re
import signal
import time

POLL = 5.0
LOG_LINE = (
    r"INFO oslo_threading_backend._upstream.applied_fixes \[-\] "
    # With oslo.messaging installed, its servers' fix comes first on the same line.
    r"Upstream fixes applied: (.*, )?"
    r"futurist fast shutdown \(\[DEFAULT\] futurist_fast_shutdown\), "
    r"futurist threads on demand \(\[DEFAULT\] futurist_threads_on_demand\)"
)
DETAILS = (
    r"DEBUG oslo_threading_backend._upstream.applied_fixes \[-\] Upstream fix applied: "
    r"futurist fast shutdown: futurist ThreadPoolExecutor's idle workers are woken at "
    r"shutdown \(futurist \S+ waits up to 5 s per pool\)"
)


def _run_and_terminate(service_process, workers, config):
    run = service_process().start(
        "--workers",
        str(workers),
        "--futurist-pool",
        "4",
        "--futurist-idle-poll",
        str(POLL),
        config=config,
    )
    pids = run.wait_for_workers(workers)
    run.wait_for_events("futurist-pool-started", count=workers)
    run.wait_for_events("started", count=workers)
    sent = time.monotonic()
    run.send(signal.SIGTERM)
    assert run.wait_exit(timeout=4 * POLL) == 0
    run.wait_gone(pids.values())
    took = time.monotonic() - sent
    for pid in pids.values():
        names = [e.name for e in run.events() if e.pid == pid]
        assert names[-1] == "stopped", names
    downs = [float(e["seconds"]) for e in run.events("futurist-pool-down")]
    assert len(downs) == workers
    return run, downs, took


def test_sigterm_does_not_wait_for_futurists_idle_poll(service_process):
    run, downs, took = _run_and_terminate(
        service_process, 2, {"DEFAULT": {"graceful_shutdown_timeout": 30}}
    )
    assert max(downs) < POLL / 2, downs
    assert took < POLL / 2, took
    # Applied once, in the master before the forks (the workers inherit it): one
    # short INFO line naming the fix and its option, the details at DEBUG (--debug).
    assert len(re.findall(LOG_LINE, run.log())) == 1, run.log()
    assert len(re.findall(DETAILS, run.log())) == 1, run.log()
    assert "INFO oslo_threading_backend._upstream.futurist_fixes" not in run.log()


def test_with_the_option_off_futurist_waits_out_its_poll(service_process):
    run, downs, took = _run_and_terminate(
        service_process,
        1,
        {"DEFAULT": {"graceful_shutdown_timeout": 30, "futurist_fast_shutdown": False}},
    )
    assert min(downs) > POLL * 0.8, downs
    assert took > POLL * 0.8, took
    assert "idle workers are woken at shutdown" not in run.log()
    assert "futurist fast shutdown ([DEFAULT]" not in run.log()
