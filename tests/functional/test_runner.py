"""oslo-threading-run (``python -m oslo_threading_backend``) runs a MODULE:FACTORY target."""

import signal
import subprocess
import sys

import pytest

from tests.functional import runner_harness
from tests.functional.runner_harness import console_script
from tests.functional.runner_harness import run_command
from tests.installed import installed as _installed

ECHO = "tests.functional.runner_harness:make_echo_service"


def _error_line(done, status: int) -> str:
    """The one line on stderr of a run that exited with ``status``."""
    assert done.returncode == status, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


HAS_EVENTLET = _installed("eventlet")


@pytest.fixture
def runner_process(tmp_path):
    yield from runner_harness.runner_processes(tmp_path)


@pytest.mark.parametrize(
    ("args", "message", "status"),
    [
        (["no_such_module_xyz:make"], "cannot import module 'no_such_module_xyz'", 2),
        (["tests.functional.runner_harness:nothing"], "has no attribute 'nothing'", 2),
        (["tests.functional.runner_harness:make_not_a_service"], "not an oslo_threading", 2),
        (["tests.functional.runner_harness"], "target must be MODULE:FACTORY", 2),
        ([ECHO, "--workers", "0"], "argument --workers: must be an integer >= 1, not 0", 2),
        ([ECHO, "--bogus"], "unrecognized arguments: --bogus (see oslo-threading-run --help", 2),
        (
            ["--workers", "3", ECHO],
            f"must come first, as in: oslo-threading-run {ECHO} --workers 3",
            2,
        ),
        (
            ["tests.functional.runner_harness:make_failing_service"],
            "make_failing_service(conf) failed: RuntimeError: cannot reach the database",
            1,
        ),
    ],
    ids=[
        "no-module",
        "no-attribute",
        "not-a-service",
        "no-factory",
        "zero-workers",
        "unknown-option",
        "option-before-target",
        "factory-raises",
    ],
)
def test_an_error_is_one_line_on_stderr_and_nothing_else(tmp_path, args, message, status):
    done = run_command(*args, cwd=tmp_path)

    line = _error_line(done, status)
    assert line.startswith("oslo-threading-run: error: ")
    assert message in line
    # Not even the backend's INFO lines (oslo.log writes to stdout by default).
    assert done.stdout == ""


@pytest.mark.parametrize("value", ["-1", "5s"])
def test_a_bad_value_in_the_config_is_one_line_and_status_2(tmp_path, value):
    # Found by the launcher, it used to end the runner with a 27-line traceback.
    conf = tmp_path / "bad.conf"
    conf.write_text(f"[DEFAULT]\ngraceful_shutdown_timeout = {value}\n")

    done = run_command(ECHO, "--config-file", str(conf), cwd=tmp_path)

    line = _error_line(done, 2)
    assert line.startswith("oslo-threading-run: error: the config is not usable: ")
    assert "graceful_shutdown_timeout" in line
    assert done.stdout == ""


@pytest.mark.parametrize(
    ("section", "option", "value", "allowed"),
    [
        ("DEFAULT", "default_thread_pool_size", "-4", "allowed: an integer >= 1"),
        ("demo", "cells", "many", "allowed: an integer >= 1 and <= 10"),
    ],
    ids=["read-by-no-one-in-the-master", "read-by-the-factory"],
)
def test_any_bad_value_is_one_line_naming_file_group_option_value_and_status_2(
    tmp_path, section, option, value, allowed
):
    # [DEFAULT] default_thread_pool_size = -4 used to start the workers (they failed
    # at the first use of a pool); [demo] cells = many ended with status 1; both
    # messages carried oslo.config's LocationInfo(...) repr.
    conf = tmp_path / "bad.conf"
    conf.write_text(f"[{section}]\n{option} = {value}\n")

    done = run_command("--workers", "1", "--config-file", str(conf), cwd=tmp_path)

    line = _error_line(done, 2)
    assert line.startswith(
        f"oslo-threading-run: error: the config is not usable: {conf}: "
        f"[{section}] {option} = '{value}' is not valid: "
    ), line
    assert line.endswith(allowed), line
    assert "LocationInfo" not in line


def test_runner_selects_the_backend_before_importing_futurist_or_eventlet(tmp_path):
    probe = (
        "import sys, oslo_threading_backend.runner; "
        "print(sorted(m for m in ('futurist', 'eventlet') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tmp_path,
        env=runner_harness.runner_env(),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


@pytest.mark.skipif(HAS_EVENTLET, reason="eventlet is installed here")
def test_eventlet_backend_in_the_config_without_eventlet_is_one_line_and_status_2(tmp_path):
    conf = tmp_path / "eventlet.conf"
    conf.write_text("[DEFAULT]\nconcurrency_backend = eventlet\n")

    done = run_command(ECHO, "--config-file", str(conf), cwd=tmp_path)

    line = _error_line(done, 2)
    assert line.startswith(
        "oslo-threading-run: error: cannot select the concurrency backend "
        "([DEFAULT] concurrency_backend = eventlet): the 'eventlet' backend"
    )
    assert "threading backend" not in line
    assert line.count("install oslo.service and eventlet") == 1
    assert done.stdout == ""


@pytest.mark.skipif(not HAS_EVENTLET, reason="needs eventlet installed (tox -e openstack)")
def test_eventlet_backend_in_the_config_reaches_the_selection_and_is_refused(tmp_path):
    # Nothing the runner imported before reading the config may have settled
    # the backend: the config's choice is the one select_backend() sees.
    conf = tmp_path / "eventlet.conf"
    conf.write_text("[DEFAULT]\nconcurrency_backend = eventlet\n")

    done = run_command(ECHO, "--config-file", str(conf), cwd=tmp_path)

    line = _error_line(done, 2)
    assert line == (
        "oslo-threading-run: error: this command runs services on native threads only, "
        "but [DEFAULT] concurrency_backend chose 'eventlet': set it to 'threading' or 'auto'"
    )


def test_the_console_script_imports_the_target_from_the_current_directory(
    runner_process, tmp_path
):
    run = runner_process()
    (run.workdir / "hello.py").write_text(
        "from tests.functional.runner_harness import make_echo_service as make_service\n"
    )
    config = {"echo": {"events": run.events_path}}
    run.start("hello:make_service", "--no-fork", config=config, command=[console_script()])
    (started,) = run.wait_for_events("started")
    assert started.pid == run.pid

    run.send(signal.SIGTERM)
    assert run.wait_exit() == 0


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
    # Nobody asked for workers: no warning that "2 workers" were not started.
    assert "no_fork=True: running one instance of the service, not" not in run.log()

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
