"""oslo-threading-run (``python -m oslo_threading_backend``) runs a MODULE:FACTORY target."""

import signal

import pytest

from tests.functional import runner_harness
from tests.functional.runner_harness import run_command

ECHO = "tests.functional.runner_harness:make_echo_service"


@pytest.fixture
def runner_process(tmp_path):
    yield from runner_harness.runner_processes(tmp_path)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["no_such_module_xyz:make"], "cannot import module 'no_such_module_xyz'"),
        (["tests.functional.runner_harness:nothing"], "has no attribute 'nothing'"),
        (["tests.functional.runner_harness:make_not_a_service"], "not an oslo_threading"),
        (["tests.functional.runner_harness"], "target must be MODULE:FACTORY"),
        ([ECHO, "--workers", "0"], "argument --workers: must be an integer >= 1, not 0"),
    ],
    ids=["no-module", "no-attribute", "not-a-service", "no-factory", "zero-workers"],
)
def test_a_bad_target_is_one_line_on_stderr_and_status_2(tmp_path, args, message):
    done = run_command(*args, cwd=tmp_path)

    assert done.returncode == 2
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("oslo-threading-run: error: ")
    assert message in lines[0]


def _eventlet_backend_installed() -> bool:
    import importlib.metadata

    try:
        for name in ("eventlet", "oslo.service"):
            importlib.metadata.distribution(name)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


@pytest.mark.skipif(_eventlet_backend_installed(), reason="eventlet and oslo.service installed")
def test_eventlet_backend_in_the_config_without_eventlet_is_one_line_and_status_2(tmp_path):
    conf = tmp_path / "eventlet.conf"
    conf.write_text("[DEFAULT]\nconcurrency_backend = eventlet\n")

    done = run_command(ECHO, "--config-file", str(conf), cwd=tmp_path)

    assert done.returncode == 2
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("oslo-threading-run: error: cannot select the threading backend")
    assert lines[0].count("install oslo.service and eventlet") == 1


@pytest.mark.skipif(not _eventlet_backend_installed(), reason="eventlet or oslo.service missing")
def test_eventlet_backend_in_the_config_with_eventlet_installed_is_one_line_and_status_2(
    tmp_path,
):
    conf = tmp_path / "eventlet.conf"
    conf.write_text("[DEFAULT]\nconcurrency_backend = eventlet\n")

    done = run_command(ECHO, "--config-file", str(conf), cwd=tmp_path)

    assert done.returncode == 2
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert "runs services on native threads, but [DEFAULT] concurrency_backend chose" in lines[0]


def test_runs_the_factory_in_n_workers_with_options_it_registers_itself(runner_process):
    run = runner_process()
    run.start(
        ECHO,
        "--workers",
        "3",
        "--debug",  # not the runner's: it reaches oslo.config and oslo.log
        config={
            "DEFAULT": {"graceful_shutdown_timeout": 10},
            "echo": {"events": run.events_path, "greeting": "from-the-file"},
        },
    )
    workers = run.wait_for_workers(3)
    started = run.wait_for_events("started", count=3, greeting="from-the-file")
    assert {e.pid for e in started} == set(workers.values())
    assert " DEBUG " in run.log()

    run.send(signal.SIGTERM)
    assert run.wait_exit() == 0
    assert len(run.events("stopping")) == 3
    run.wait_gone(workers.values())


def test_no_fork_runs_the_service_in_the_runner_process_and_sighup_mutates(runner_process):
    run = runner_process()
    config = {"echo": {"events": run.events_path, "greeting": "before"}}
    run.start(ECHO, "--no-fork", "--restart-method", "mutate", config=config)
    (started,) = run.wait_for_events("started", greeting="before")
    assert started.pid == run.pid
    assert run.workers() == {}

    run.write_config(echo={"events": run.events_path, "greeting": "after"})
    run.send(signal.SIGHUP)
    (reset,) = run.wait_for_events("reset", greeting="after")
    assert reset.pid == run.pid

    run.send(signal.SIGTERM)
    assert run.wait_exit() == 0
    assert run.events("stopping")


def test_sigterm_while_the_factory_runs_exits_cleanly(runner_process, tmp_path):
    run = runner_process()
    slow = "tests.functional.runner_harness:make_slow_echo_service"
    run.start(slow, config={"echo": {"events": run.events_path}})
    run.wait_for_events("factory-started")

    run.send(signal.SIGTERM)

    assert run.wait_exit(timeout=10) == 0
    assert "Caught SIGTERM before the service started: exiting" in run.log()
    assert not run.events("started")
