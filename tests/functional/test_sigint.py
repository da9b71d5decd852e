import signal


def test_sigint_exits_at_once_non_zero_and_leaves_no_worker(service_process):
    run = service_process().start("--workers", "2", "--request-seconds", "5")
    workers = run.wait_for_workers(2)
    run.wait_for_events("started", count=2)

    run.send(signal.SIGINT)

    assert run.wait_exit(timeout=5) != 0
    run.wait_gone(workers.values(), timeout=5)
    # Immediate: no graceful stop ran.
    assert not run.events("stopping")


def test_sigint_in_no_fork_mode_exits_non_zero(service_process):
    run = service_process().start("--launcher", "no-fork")
    run.wait_for_events("started")
    run.send(signal.SIGINT)
    assert run.wait_exit(timeout=5) != 0
    assert not run.events("stopping")


def test_sigint_during_a_hanging_graceful_shutdown_exits_at_once(service_process):
    run = service_process().start(
        "--workers", "2", "--stop-hangs", config={"DEFAULT": {"graceful_shutdown_timeout": 60}}
    )
    workers = run.wait_for_workers(2)
    run.wait_for_events("started", count=2)
    run.send(signal.SIGTERM)
    run.wait_for_events("stopping", count=2)

    run.send(signal.SIGINT)

    assert run.wait_exit(timeout=5) != 0
    run.wait_gone(workers.values(), timeout=5)


def test_sigint_during_a_hanging_graceful_stop_in_no_fork_mode_exits_at_once(service_process):
    run = service_process().start(
        "--launcher",
        "no-fork",
        "--stop-hangs",
        config={"DEFAULT": {"graceful_shutdown_timeout": 60}},
    )
    run.wait_for_events("started")
    run.send(signal.SIGTERM)
    run.wait_for_events("stopping")

    run.send(signal.SIGINT)

    assert run.wait_exit(timeout=5) != 0


def _no_fork_with_a_hanging_sighup_restart(service_process, timeout):
    """A no_fork service whose SIGHUP restart hangs in stop()."""
    run = service_process().start(
        "--launcher",
        "no-fork",
        "--stop-hangs",
        "--restart-method",
        "reload",
        config={"DEFAULT": {"graceful_shutdown_timeout": timeout}},
    )
    run.wait_for_events("started")
    run.send(signal.SIGHUP)
    run.wait_for_events("stopping")  # the restart's stop() hangs
    return run


def test_no_fork_answers_sigint_while_a_sighup_restart_hangs(service_process):
    run = _no_fork_with_a_hanging_sighup_restart(service_process, timeout=60)

    run.send(signal.SIGINT)

    assert run.wait_exit(timeout=5) != 0


def test_no_fork_sigterm_during_a_hanging_restart_is_bounded_by_the_timeout(service_process):
    run = _no_fork_with_a_hanging_sighup_restart(service_process, timeout=2)

    run.send(signal.SIGTERM)

    assert run.wait_exit(timeout=15) == 1
    assert "Graceful shutdown timeout (2 s) exceeded" in run.log()
