"""SIGHUP in the middle of a stream of RPC calls: no call fails or is answered twice."""

import signal

from tests.integration.harness import poll


def _answers_by_pid(clients, since, tag):
    return {a["pid"] for a in clients.lines()[since:] if "pid" in a and a.get("tag") == tag}


def _assert_each_call_answered_once(run, clients):
    outcomes = clients.outcomes()
    assert outcomes
    not_once = {i: seen for i, seen in outcomes.items() if [h for h, _ in seen] != ["ok"]}
    assert not not_once, f"calls not answered exactly once: {not_once}"
    taken, answered = run.server_counts()
    assert set(answered) == set(outcomes)
    assert max(answered.values()) == 1, [i for i, n in answered.items() if n > 1]
    assert max(taken.values()) == 1, [i for i, n in taken.items() if n > 1]


def test_sighup_with_mutate_mid_stream_fails_no_call_and_keeps_the_workers(rpc_run):
    run = rpc_run()
    service = run.start_service(restart_method="mutate", tag="before")
    workers = service.worker_pids()
    clients = run.start_clients(clients=4, seconds=0.02)
    clients.wait_for_answers(40)

    run.rewrite_config(tag="after")
    since = len(clients.lines())
    service.send_signal(signal.SIGHUP)
    resets = run.wait_for_events("reset", count=2, tag="after")
    assert {int(e["pid"]) for e in resets} == set(workers.values())
    # Both workers answer with the mutated value, and the stream never stopped.
    want = {str(pid) for pid in workers.values()}
    poll(lambda: _answers_by_pid(clients, since, "after") == want, what="answers after SIGHUP")
    clients.finish()

    _assert_each_call_answered_once(run, clients)
    assert service.worker_pids() == workers  # mutate: same processes
    service.send_signal(signal.SIGTERM)
    assert service.wait(30) == 0


def test_sighup_with_reload_mid_stream_fails_no_call(rpc_run):
    run = rpc_run()
    service = run.start_service(restart_method="reload", tag="before")
    workers = service.worker_pids()
    # Calls that last, so that some are in flight when each server stops and drains.
    clients = run.start_clients(clients=4, seconds=0.2)
    clients.wait_for_answers(10)

    run.rewrite_config(tag="after")
    since = len(clients.lines())
    service.send_signal(signal.SIGHUP)
    # 'reload': each worker stops its RPC server (draining the calls it took),
    # resets and starts a new one; calls sent meanwhile wait in the queue.
    run.wait_for_events("reset", count=2, tag="after")
    want = {str(pid) for pid in service.worker_pids().values()}
    poll(lambda: _answers_by_pid(clients, since, "after") == want, what="answers after SIGHUP")
    clients.finish()

    _assert_each_call_answered_once(run, clients)
    assert len(service.worker_pids()) == len(workers)
    service.send_signal(signal.SIGTERM)
    assert service.wait(30) == 0
