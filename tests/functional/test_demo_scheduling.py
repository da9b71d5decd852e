"""The README's first command: the demo schedules every submitted request, once."""

import re
import shlex
import signal
import subprocess

import pytest

from tests.functional import runner_harness
from tests.functional.harness import poll


@pytest.fixture
def runner_process(tmp_path):
    yield from runner_harness.runner_processes(tmp_path)


def test_first_command_schedules_every_submitted_request_once(runner_process):
    # Exactly what a user types: no option, no config file, state in ./demo-state,
    # in a shell whose PATH does not have the venv (README: .venv/bin/python -m ...).
    env = runner_harness.fresh_shell_env()
    run = runner_process().start(env=env)
    workers = run.wait_for_workers(2)
    run.wait_for_log(r"(?s)(takes requests on 2 threads.*){2}")
    assert (run.state_dir / "cell3.sqlite").exists()

    # The command the log suggests works as pasted, from the same directory.
    hint = run.wait_for_log(r"(?m)queue more with: (.*demo-submit 20)$").group(1)
    done = subprocess.run(
        shlex.split(hint), cwd=run.workdir, env=env, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Queued 20 requests (1-20) in "), done.stdout
    poll(lambda: run.all_done(20), what="20 requests done")

    requests = runner_harness.assert_scheduled_exactly_once(run, 20)
    assert {r["scheduled_by"] for r in requests.values()} <= set(workers.values())

    # One line per request, naming where it went. A worker logs it just after
    # marking the request done in the state: wait for the 20th line.
    def log_with_every_line():
        log = run.log()
        return log if log.count("Scheduled request ") >= 20 else None

    log = poll(log_with_every_line, what="20 'Scheduled request' lines")
    for request_id, request in requests.items():
        lines = re.findall(rf"Scheduled request {request_id} on (\S+) in (\S+) ", log)
        assert lines == [(request["host"], request["cell"])], lines

    # The master's lines read in time order: the runner's start-up lines were held
    # back and written after the demo's first line ("Demo state in ...").
    assert log.index("Selecting concurrency backend") < log.index("Demo state in"), log
    stamps = re.findall(rf"(?m)^(\S+ \S+) {run.pid} ", log)
    assert len(stamps) > 3 and stamps == sorted(stamps), log

    run.send(signal.SIGTERM)
    assert run.wait_exit() == 0
    run.wait_gone(workers.values())


def test_a_second_run_keeps_the_state_of_the_first(runner_process, tmp_path):
    first = runner_process().start()
    first.wait_for_workers(2)
    first.submit(3)
    poll(lambda: first.all_done(3), what="3 requests done")
    first.send(signal.SIGTERM)
    assert first.wait_exit() == 0

    second = runner_process(first.workdir).start()
    second.submit(2)
    poll(lambda: second.all_done(5), what="5 requests done")
    runner_harness.assert_scheduled_exactly_once(second, 5)
    second.send(signal.SIGTERM)
    assert second.wait_exit() == 0


def test_sighup_restarts_each_scheduler_in_place_on_the_new_config(runner_process):
    run = runner_process().start(config={"demo": {"stats_interval": 60}})
    workers = run.wait_for_workers(2)
    run.wait_for_log(r"(?s)(takes requests on 2 threads.*){2}")

    run.write_config(demo={"stats_interval": 0.2})
    run.send(signal.SIGHUP)
    run.wait_for_log(r"(?s)(reloaded its config and is restarting its service.*){2}")
    run.submit(4)
    poll(lambda: run.all_done(4), what="4 requests done")
    runner_harness.assert_scheduled_exactly_once(run, 4)
    # The restarted schedulers read the new interval: throughput lines come at once
    # (at INFO once a worker scheduled something; an idle worker's are DEBUG).
    run.wait_for_log(r"INFO \S+ \[-\] Throughput of pid \d+: [1-9]\d* requests")
    assert run.workers() == workers

    run.send(signal.SIGTERM)
    assert run.wait_exit() == 0
