"""SIGHUP reaches every worker: cotyledon 2.2.0's config glue never reloaded workers."""

import signal

import pytest

RESET = 8  # seconds each reset() takes in the SIGHUP line test


def _change_value(run, value, timeout=10):
    run.write_config(DEFAULT={"graceful_shutdown_timeout": timeout}, app={"value": value})


def test_sighup_with_mutate_resets_each_worker_in_place(service_process):
    run = service_process().start(
        "--workers", "2", "--restart-method", "mutate", config={"app": {"value": "before"}}
    )
    workers = run.wait_for_workers(2)
    run.wait_for_events("started", count=2, value="before")

    _change_value(run, "after")
    run.send(signal.SIGHUP)

    resets = run.wait_for_events("reset", count=2, value="after")
    assert {e.pid for e in resets} == set(workers.values())
    # Same processes, still running, service not restarted.
    assert run.workers() == workers
    assert len(run.events("started")) == 2
    run.send(signal.SIGTERM)
    assert run.wait_exit() == 0


@pytest.mark.parametrize(
    ("restart_method", "worker_line", "then"),
    [
        ("mutate", "mutated its config and is resetting", "reset their services"),
        ("reload", "reloaded its config and is restarting", "restart their services"),
    ],
)
def test_sighup_is_one_master_line_then_each_worker_says_it_before_the_reset(
    service_process, restart_method, worker_line, then
):
    # oslo.service logs "Caught SIGHUP ..."; the workers said "reloaded its config"
    # only once the reset (or the restart) they announce had already finished.
    run = service_process().start(
        "--workers",
        "2",
        "--restart-method",
        restart_method,
        "--reset-seconds",
        str(RESET),
        config={"app": {"value": "before"}},
    )
    workers = run.wait_for_workers(2)
    run.wait_for_events("started", count=2, value="before")

    _change_value(run, "after")
    run.send(signal.SIGHUP)
    verb = "mutating" if restart_method == "mutate" else "reloading"
    master_line = (
        rf"INFO \S+ \[-\] Caught SIGHUP: {verb} the config of the master \(pid {run.pid}\) "
        rf"and of its 2 workers, which then {then}"
    )
    lines = "".join(rf".*Worker \d \(pid (\d+)\) {worker_line} its service" for _ in workers)
    # Well before the resets end: without the fix the lines came after them.
    found = run.wait_for_log(rf"(?s){master_line}{lines}", timeout=RESET - 2)
    assert {int(pid) for pid in found.groups()} == set(workers.values())
    # The lines came while the resets ran.
    assert run.events("reset") == []
    run.wait_for_events("reset", count=2, value="after")
    assert run.log().count("Caught SIGHUP") == 1
    run.send(signal.SIGTERM)
    assert run.wait_exit() == 0


def test_sighup_with_reload_restarts_the_services_on_the_new_config(service_process):
    run = service_process().start(
        "--workers", "2", "--restart-method", "reload", config={"app": {"value": "before"}}
    )
    workers = run.wait_for_workers(2)
    run.wait_for_events("started", count=2, value="before")

    _change_value(run, "after")
    run.send(signal.SIGHUP)

    restarted = run.wait_for_events("started", count=2, value="after")
    assert {e.pid for e in restarted} == set(workers.values())
    for pid in workers.values():
        names = [e.name for e in run.events() if e.pid == pid]
        tail = names[names.index("stopping") :]
        assert [
            n
            for n in tail
            if n not in ("request-finished", "pool-task", "resetting", "start-begin", "wait-begin")
        ] == [
            "stopping",
            "stopped",
            "reset",
            "started",
        ]
    run.send(signal.SIGTERM)
    assert run.wait_exit() == 0


def test_restart_api_on_process_launcher_reaches_the_workers(service_process):
    run = service_process().start(
        "--workers",
        "2",
        "--restart-method",
        "mutate",
        "--restart-on-sigusr1",
        config={"app": {"value": "before"}},
    )
    workers = run.wait_for_workers(2)
    run.wait_for_events("started", count=2)

    _change_value(run, "after")
    run.send(signal.SIGUSR1)  # the program calls launcher.restart()

    resets = run.wait_for_events("reset", count=2, value="after")
    assert {e.pid for e in resets} == set(workers.values())
    run.send(signal.SIGTERM)
    assert run.wait_exit() == 0


def test_sighup_in_no_fork_mode_reloads_instead_of_exiting(service_process):
    run = service_process().start(
        "--launcher", "no-fork", "--restart-method", "mutate", config={"app": {"value": "before"}}
    )
    run.wait_for_events("started", value="before")

    _change_value(run, "after")
    run.send(signal.SIGHUP)

    reset = run.wait_for_events("reset", value="after")
    assert reset[0].pid == run.pid
    assert run.popen.poll() is None
    run.send(signal.SIGTERM)
    assert run.wait_exit() == 0
    assert run.events("stopped", pid=run.pid)


def test_restart_api_in_no_fork_mode_restarts_the_service(service_process):
    run = service_process().start(
        "--launcher",
        "no-fork",
        "--restart-method",
        "reload",
        "--restart-on-sigusr1",
        config={"app": {"value": "before"}},
    )
    run.wait_for_events("started", value="before")

    _change_value(run, "after")
    run.send(signal.SIGUSR1)

    run.wait_for_events("started", value="after")
    assert run.events("reset", value="after")
    run.send(signal.SIGTERM)
    assert run.wait_exit() == 0


def test_a_sighup_during_a_worker_reload_is_not_lost(service_process):
    # cotyledon drops a SIGHUP that reaches a worker while its reload runs.
    run = service_process().start(
        "--workers",
        "2",
        "--restart-method",
        "mutate",
        "--reset-seconds",
        "1.0",
        config={"app": {"value": "v1"}},
    )
    run.wait_for_events("started", count=2)

    _change_value(run, "v2")
    run.send(signal.SIGHUP)
    run.wait_for_events("resetting", count=2, value="v2")
    _change_value(run, "v3")
    run.send(signal.SIGHUP)

    # Every worker ends on the master's latest config.
    resets = run.wait_for_events("reset", count=2, value="v3")
    assert len({e.pid for e in resets}) == 2
    run.send(signal.SIGTERM)
    assert run.wait_exit() == 0


def _events_of(run, pid):
    return [(e.name, e.get("value")) for e in run.events() if e.pid == pid]


def _sighup_during_a_slow_start(service_process, restart_method):
    """Two workers whose start() takes 1.5 s get a SIGHUP (v1 -> v2) while in it."""
    run = service_process().start(
        "--workers",
        "2",
        "--start-seconds",
        "1.5",
        "--restart-method",
        restart_method,
        config={"app": {"value": "v1"}},
    )
    begun = run.wait_for_events("start-begin", count=2, value="v1")
    _change_value(run, "v2")
    run.send(signal.SIGHUP)
    return run, {e.pid for e in begun}


def test_sighup_during_start_with_reload_restarts_once_start_returned(service_process):
    run, pids = _sighup_during_a_slow_start(service_process, "reload")

    # Each worker restarts its service on v2 after the v1 start() returned.
    restarted = run.wait_for_events("start-begin", count=2, value="v2")
    assert {e.pid for e in restarted} == pids
    for pid in pids:
        seen = _events_of(run, pid)
        assert seen.index(("start-returning", None)) < seen.index(("start-begin", "v2")), seen
        assert ("reset", "v2") in seen[: seen.index(("start-begin", "v2"))], seen
    run.send(signal.SIGTERM)
    assert run.wait_exit() == 0


def test_sighup_during_start_with_mutate_resets_once_start_returned(service_process):
    run, pids = _sighup_during_a_slow_start(service_process, "mutate")

    resets = run.wait_for_events("reset", count=2, value="v2")
    assert {e.pid for e in resets} == pids
    for pid in pids:
        names = [name for name, _value in _events_of(run, pid)]
        # Never reset() while start() runs.
        assert names.index("start-returning") < names.index("resetting")
    run.send(signal.SIGTERM)
    assert run.wait_exit() == 0


def test_a_bad_value_in_the_reloaded_config_keeps_the_workers_running(service_process):
    # 'reload': graceful_shutdown_timeout is immutable, as oslo.service's, so a
    # 'mutate' would ignore its new value (oslo.config logs that) rather than read it.
    run = service_process().start("--workers", "2", "--restart-method", "reload")
    workers = run.wait_for_workers(2)
    run.wait_for_events("started", count=2)

    run.write_config(DEFAULT={"graceful_shutdown_timeout": "5s"})
    run.send(signal.SIGHUP)

    # The master and each worker: one line each, the last good timeout kept.
    run.wait_for_log(r"(?s)(graceful_shutdown_timeout.*keeping 10 s.*){3}")
    assert "Traceback" not in run.log()
    assert run.workers() == workers
    run.send(signal.SIGTERM)
    assert run.wait_exit() == 0


def test_a_negative_shutdown_timeout_at_sighup_keeps_the_last_good_one(service_process):
    # The option has no minimum (oslo.service's): -1 parses. It used to raise in
    # the master after the reload was applied, and then in the constructor of
    # every worker forked afterwards: a killed worker was never respawned.
    # READY=1: the master knows both started, so the kill below is a respawn.
    run = service_process().start("--workers", "2", "--restart-method", "reload", wait_ready=True)
    workers = run.wait_for_workers(2)
    run.wait_for_events("started", count=2)

    run.write_config(DEFAULT={"graceful_shutdown_timeout": -1})
    run.send(signal.SIGHUP)
    run.wait_for_log(r"graceful_shutdown_timeout must be a number of seconds >= 0.*keeping 10 s")
    assert "Traceback" not in run.log()

    run.send(signal.SIGKILL, workers[0])
    respawned = run.wait_for_workers_matching(lambda w: len(w) == 2 and w.get(0) != workers[0])
    assert respawned[1] == workers[1]
    run.send(signal.SIGTERM)
    assert run.wait_exit() == 0
    assert "Traceback" not in run.log()


def test_sighup_with_spawned_workers_respawns_them_on_the_new_config(service_process):
    # A spawned worker's config came pickled and cannot re-read its files.
    run = service_process().start(
        "--workers",
        "2",
        "--start-method",
        "spawn",
        "--restart-method",
        "mutate",
        config={"app": {"value": "before"}},
        wait_ready=True,
    )
    before = run.workers()

    _change_value(run, "after")
    run.send(signal.SIGHUP)

    started = run.wait_for_events("started", count=2, value="after")
    assert not {e.pid for e in started} & set(before.values())
    assert sorted(run.wait_for_workers(2)) == [0, 1]
    # multiprocessing's resource tracker (spawn) ignores the group's SIGHUP.
    assert "resource_tracker: process died unexpectedly" not in run.log()
    run.send(signal.SIGTERM)
    assert run.wait_exit() == 0


@pytest.mark.parametrize("restart_method", ["reload", "mutate"])
def test_a_config_that_no_longer_parses_is_refused_in_one_line(service_process, restart_method):
    run = service_process().start(
        "--workers", "2", "--restart-method", restart_method, config={"app": {"value": "v1"}}
    )
    workers = run.wait_for_workers(2)
    run.wait_for_events("started", count=2, value="v1")

    run.config_path.write_text("[DEFAULT\ngraceful_shutdown_timeout = 10\n")
    run.send(signal.SIGHUP)
    run.wait_for_log(r"the new config is refused, the master \(pid \d+\) and its workers keep")

    # A good config afterwards is applied as usual: every process kept working.
    _change_value(run, "v2")
    run.send(signal.SIGHUP)
    applied = "started" if restart_method == "reload" else "reset"
    run.wait_for_events(applied, count=2, value="v2")
    log = run.log()
    # One line, in the master: no worker reloaded, reset or restarted on the refused file.
    assert log.count("Failed to parse") == 1, log
    assert len(run.events("started")) == 2 + (2 if restart_method == "reload" else 0)
    assert len(run.events("reset")) == 2
    assert run.workers() == workers
    run.send(signal.SIGTERM)
    assert run.wait_exit() == 0


def test_a_sighup_sent_to_a_worker_with_a_broken_config_keeps_its_service(service_process):
    run = service_process().start("--workers", "2", config={"app": {"value": "v1"}})
    workers = run.wait_for_workers(2)
    run.wait_for_events("started", count=2, value="v1")

    run.config_path.write_text("[DEFAULT\n")
    run.send(signal.SIGHUP, pid=workers[0])
    run.wait_for_log(rf"Worker 0 \(pid {workers[0]}\): the new config is refused, it keeps")

    _change_value(run, "v2")
    run.send(signal.SIGHUP)
    run.wait_for_events("started", count=2, value="v2")
    assert run.log().count("Failed to parse") == 1, run.log()
    assert [e.name for e in run.events("reset", pid=workers[0])] == ["reset"]
    run.send(signal.SIGTERM)
    assert run.wait_exit() == 0
