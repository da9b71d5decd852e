"""What the master holds at fork time never breaks a worker."""

import signal


def test_signal_to_a_just_forked_worker_is_handled_by_that_worker(service_process):
    # Each worker sleeps 1.5 s after fork, before cotyledon installs its handlers.
    run = service_process().start("--workers", "2", "--slow-worker-setup", "1.5")
    forked = run.wait_for_events("forked")[0]

    run.send(signal.SIGTERM, pid=forked.pid)

    # That worker ends and is replaced; the master and the service keep running.
    run.wait_gone([forked.pid])
    workers = run.wait_for_workers_matching(
        lambda w: len(w) == 2 and forked.pid not in w.values(), timeout=30
    )
    run.wait_for_events("started", count=2)
    assert run.popen.poll() is None
    assert not run.events("master-exit")
    run.send(signal.SIGTERM)
    assert run.wait_exit() == 0
    run.wait_gone(workers.values())


def test_thread_group_and_pool_used_in_the_master_before_fork_work_in_workers(service_process):
    run = service_process().start("--workers", "2", "--threads-before-fork")
    events = run.wait_for_events("thread-in-worker", count=2)
    assert all(e["ran"] == "True" for e in events), events
    # The named pool the master used: a worker's task on it runs (no dead threads).
    pooled = run.wait_for_events("pool-task", count=2)
    assert {e.pid for e in pooled} == {e.pid for e in events}
    assert all(e["ok"] == "True" for e in pooled), pooled
    run.send(signal.SIGTERM)
    assert run.wait_exit() == 0
