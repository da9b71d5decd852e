"""SIGTERM, repeated under load, with a consumer's own ``oslo_messaging.get_rpc_server()``.

Not our ``rpc.RPCService``: the server a consumer builds itself, with
oslo.messaging's 'threading' executor, in real workers under our launcher, on
the real broker. Whether the service waits for its server after stopping it or
never does, every call the clients sent is answered exactly once: the calls a
worker took are answered before it exits (the ones its pool still ran used to
be dropped at the worker's exit, and the ones its listener acknowledged while
closing were dropped by oslo.messaging), the others wait in the queue for the
next run.
"""

import signal

import pytest

from tests.integration.harness import poll

FACTORY = "tests.integration.programs.plain_rpc_app:create_service"
RUNS = 4


@pytest.mark.parametrize("waits", [False, True], ids=["never-waits", "stop-then-wait"])
def test_no_call_is_lost_when_sigterm_comes_again_and_again(rpc_run, waits):
    run = rpc_run()
    sections = {"plain_rpc": {"waits": waits}}
    clients = None
    for number in range(RUNS):
        service = run.start_service(
            factory=FACTORY, sections=sections, graceful_shutdown_timeout=30
        )
        if clients is None:  # once the queue exists: a call sent before would be dropped
            clients = run.start_clients(clients=6, seconds=0.3, timeout=20, max_seconds=240)
        workers = service.worker_pids()
        want = {str(pid) for pid in workers.values()}
        taken_before = len(run.events("taken"))
        # Under load: both workers are running calls when SIGTERM comes.
        poll(
            lambda want=want, floor=taken_before + 12: (
                set(run.in_flight().values()) == want and len(run.events("taken")) >= floor
            ),
            what=f"run {number}: calls in flight in both workers",
        )
        service.send_signal(signal.SIGTERM)
        assert service.wait(40) == 0, run.report()
        service.wait_gone(workers.values())
        taken, answered = run.server_counts()
        assert set(taken) == set(answered), (
            f"run {number}: taken, never answered: {set(taken) - set(answered)}"
        )
    last = run.start_service(factory=FACTORY, sections=sections)
    clients.finish(timeout=90)
    outcomes = clients.outcomes()
    not_once = {i: seen for i, seen in outcomes.items() if [h for h, _ in seen] != ["ok"]}
    assert not not_once, f"calls not answered exactly once: {not_once}"
    _, answered = run.server_counts()
    assert max(answered.values()) == 1
    assert "Upstream fixes applied: " in last.log()
    assert "([DEFAULT] messaging_server_fixes)" in last.log()
    print(f"{RUNS} SIGTERMs under load, waits={waits}: {len(outcomes)} calls, none lost")
    last.send_signal(signal.SIGTERM)
    assert last.wait(40) == 0
