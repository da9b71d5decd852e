import re
import signal

from tests.functional.harness import process_title


def test_master_and_workers_are_titled_in_ps(service_process):
    run = service_process().start("--workers", "2")
    workers = run.wait_for_workers(2)
    assert sorted(workers) == [0, 1]
    for number, pid in workers.items():
        assert process_title(pid) == f"service_app.py: ServiceWrapper worker({number})"
    assert re.fullmatch(
        r"service_app\.py: master process \[.*service_app\.py.*\]", process_title(run.pid)
    )
    run.send(signal.SIGTERM)
    assert run.wait_exit() == 0
    # log_options (default True): the master logged every option value at DEBUG.
    assert re.search(
        rf" {run.pid} DEBUG oslo_threading_backend._openstack.service_config .*Full set of CONF",
        run.log(),
    )
    assert re.search(r"graceful_shutdown_timeout +=  ?10", run.log())


def test_log_options_false_keeps_option_values_out_of_the_log(service_process):
    run = service_process().start(
        "--workers",
        "1",
        config={"DEFAULT": {"log_options": False, "graceful_shutdown_timeout": 10}},
    )
    run.wait_for_events("started")
    run.send(signal.SIGTERM)
    assert run.wait_exit() == 0
    assert "Full set of CONF" not in run.log()


def test_one_worker_uses_service_launcher_and_forks(service_process):
    run = service_process().start("--launcher", "service", "--workers", "1")
    workers = run.wait_for_workers(1)
    started = run.wait_for_events("started")
    assert started[0].pid == workers[0] != run.pid
    run.send(signal.SIGTERM)
    assert run.wait_exit() == 0


def test_spawn_start_method_runs_titled_workers(service_process):
    # Ready (READY=1) means both spawned workers reported start() returned.
    run = service_process().start("--workers", "2", "--start-method", "spawn", wait_ready=True)
    workers = run.wait_for_workers(2)
    started = run.wait_for_events("started", count=2)
    assert {e.pid for e in started} == set(workers.values())
    run.send(signal.SIGTERM)
    assert run.wait_exit() == 0
    run.wait_gone(workers.values())
