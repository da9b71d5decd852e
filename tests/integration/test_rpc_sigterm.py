"""SIGTERM with RPC calls in flight: every call a worker took is answered before it exits.

And no call is lost by the graceful stop: the calls nobody took wait in the
queue and the next run of the service answers them.
"""

import signal

from tests.integration.harness import poll


def test_sigterm_answers_every_call_already_taken_and_the_master_exits_0(rpc_run):
    run = rpc_run()
    first = run.start_service(graceful_shutdown_timeout=30)
    workers = first.worker_pids()
    # Calls of 1 s: when SIGTERM comes, both workers are in the middle of some.
    clients = run.start_clients(clients=6, seconds=1.0, timeout=40)
    want = {str(pid) for pid in workers.values()}
    poll(lambda: set(run.in_flight().values()) == want, what="calls in flight in both workers")
    in_flight = run.in_flight()

    first.send_signal(signal.SIGTERM)
    assert first.wait(30) == 0
    first.wait_gone(workers.values())

    # Taken by the first run, every one answered (the workers' side)...
    taken, answered = run.server_counts()
    assert set(in_flight) <= set(taken)
    assert set(taken) == set(answered), f"taken, never answered: {set(taken) - set(answered)}"
    # ... and the answers reached the clients.
    poll(
        lambda: set(taken) <= {a["id"] for a in clients.answered()},
        what="the clients to receive every answer of the first run",
    )
    clients.stop_path.touch()  # no new call

    # The calls sent during the shutdown were not taken: the next run answers them.
    second = run.start_service()
    clients.finish(timeout=60)
    outcomes = clients.outcomes()
    not_once = {i: seen for i, seen in outcomes.items() if [h for h, _ in seen] != ["ok"]}
    assert not not_once, f"calls not answered exactly once: {not_once}"
    _, answered = run.server_counts()
    assert max(answered.values()) == 1
    late = len(outcomes) - len(taken)
    print(
        f"SIGTERM: {len(in_flight)} calls in flight, {len(taken)} taken by the first run "
        f"and answered by it, {late} answered by the next run"
    )
    second.send_signal(signal.SIGTERM)
    assert second.wait(30) == 0
