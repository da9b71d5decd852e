"""SIGTERM with requests in flight: they are given back, and a later run schedules them once."""

import signal

import pytest

from tests.functional import runner_harness
from tests.functional.harness import poll


@pytest.fixture
def runner_process(tmp_path):
    yield from runner_harness.runner_processes(tmp_path)


def test_sigterm_gives_requests_in_flight_back_and_the_next_run_schedules_them(runner_process):
    slow = {
        "DEFAULT": {"graceful_shutdown_timeout": 10},
        # Held long enough after being taken that SIGTERM finds them in flight.
        "demo": {"test_request_delay": 30},
    }
    run = runner_process().start(config=slow)
    workers = run.wait_for_workers(2)
    run.submit(8)

    # 2 workers x 2 request threads: 4 requests in flight at once.
    def four_in_flight():
        claimed = [i for i, r in run.requests().items() if r["state"] == "claimed"]
        return claimed if len(claimed) == 4 else None

    in_flight = poll(four_in_flight, what="4 requests in flight")

    run.send(signal.SIGTERM)
    assert run.wait_exit(timeout=10) == 0
    run.wait_gone(workers.values())
    requests = run.requests()
    assert {r["state"] for r in requests.values()} == {"queued"}
    for request_id in in_flight:
        assert f"Gave request {request_id} back to the queue because the worker is stopping" in (
            run.log()
        )

    again = runner_process(run.workdir).start(config={"demo": {"test_request_delay": 0}})
    poll(lambda: again.all_done(8), what="8 requests done")
    runner_harness.assert_scheduled_exactly_once(again, 8)
    again.send(signal.SIGTERM)
    assert again.wait_exit() == 0
