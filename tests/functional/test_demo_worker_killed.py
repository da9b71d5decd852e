"""A worker SIGKILLed in the middle of requests: they are scheduled once, by another worker."""

import signal

import pytest

from tests.functional import runner_harness
from tests.functional.harness import poll

CONFIG = {
    "DEFAULT": {"graceful_shutdown_timeout": 10},
    # Each request is held 0.5 s after it is taken: long enough to kill its worker then.
    # The lease is long: only "its process is gone" can give the requests back in time.
    "demo": {"test_request_delay": 0.5, "lease_seconds": 60},
}


@pytest.fixture
def runner_process(tmp_path):
    yield from runner_harness.runner_processes(tmp_path)


def test_requests_of_a_killed_worker_are_scheduled_exactly_once(runner_process):
    run = runner_process().start(config=CONFIG)
    workers = run.wait_for_workers(2)
    run.wait_for_log(r"(?s)(takes requests on 2 threads.*){2}")
    run.submit(12)

    def claims_of_one_worker():
        for pid in workers.values():
            held = [i for i, r in run.requests().items() if r["owner_pid"] == pid]
            if held:
                return pid, held
        return None

    victim, held = poll(claims_of_one_worker, what="a worker holding a request")
    run.send(signal.SIGKILL, pid=victim)

    poll(lambda: run.all_done(12), what="12 requests done")
    requests = runner_harness.assert_scheduled_exactly_once(run, 12)
    for request_id in held:
        assert requests[request_id]["scheduled_by"] != victim
        assert requests[request_id]["attempts"] >= 2
        assert f"Request {request_id} was claimed by pid {victim} and that process is gone" in (
            run.log()
        )
    # cotyledon's own line said "killed by signal -9".
    run.wait_for_log(rf"Child {victim} killed by signal 9 \(SIGKILL\)")
    assert "killed by signal -9" not in run.log()
    # The master replaced the killed worker.
    respawned = run.wait_for_workers_matching(lambda w: len(w) == 2 and victim not in w.values())
    assert set(respawned) == set(workers)

    run.send(signal.SIGTERM)
    assert run.wait_exit() == 0
