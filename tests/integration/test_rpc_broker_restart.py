"""The broker restarted under load: the workers reconnect and serve again, nothing hangs."""

import collections
import signal

from tests.integration.harness import poll


def test_broker_restart_under_load_workers_reconnect_and_serve_again(rpc_run, rabbit):
    run = rpc_run()
    service = run.start_service()
    workers = service.worker_pids()
    clients = run.start_clients(clients=4, seconds=0.02, timeout=5)
    clients.wait_for_answers(40)

    rabbit.restart()
    since = len(clients.lines())
    want = {str(pid) for pid in workers.values()}
    poll(
        lambda: {a["pid"] for a in clients.lines()[since:] if "pid" in a} == want,
        timeout=60,
        what="both workers answering after the broker restart",
    )
    clients.finish(timeout=30)  # every call ended: answered, or failed within its timeout

    assert service.worker_pids() == workers  # reconnected, not respawned
    outcomes = clients.outcomes()
    assert all(len(seen) == 1 for seen in outcomes.values())
    errors = collections.Counter(
        seen[0][1]["error"] for seen in outcomes.values() if seen[0][0] == "error"
    )
    print(f"broker restart: {sum(errors.values())} of {len(outcomes)} calls failed: {errors}")
    service.send_signal(signal.SIGTERM)
    assert service.wait(30) == 0
