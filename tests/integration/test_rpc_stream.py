"""A steady stream of RPC calls from several concurrent clients, answered exactly once."""

import signal


def test_every_call_of_a_steady_stream_is_answered_exactly_once(rpc_run):
    run = rpc_run()
    service = run.start_service(workers=2)
    workers = service.worker_pids()
    assert len(workers) == 2
    clients = run.start_clients(clients=6, calls=40, seconds=0.01)
    clients.wait_for_answers(240, timeout=60)
    clients.finish()

    outcomes = clients.outcomes()
    assert len(outcomes) == 240
    assert all([head for head, _ in seen] == ["ok"] for seen in outcomes.values()), {
        call_id: seen for call_id, seen in outcomes.items() if len(seen) != 1 or seen[0][0] != "ok"
    }
    taken, answered = run.server_counts()
    assert set(answered) == set(outcomes)
    assert max(taken.values()) == 1 and max(answered.values()) == 1
    # Both workers served the stream.
    assert {a["pid"] for a in clients.answered()} == {str(p) for p in workers.values()}

    service.send_signal(signal.SIGTERM)
    assert service.wait(30) == 0
