"""kill -9 of a worker: it is respawned with its number, the stream goes on, losses counted."""

import os
import signal
import warnings


def test_kill_9_of_a_worker_respawns_it_and_the_calls_lost_are_counted(rpc_run, record_property):
    run = rpc_run()
    service = run.start_service()
    workers = service.worker_pids()
    clients = run.start_clients(clients=4, seconds=0.2, timeout=6)
    clients.wait_for_answers(40)  # > 2 s after the start: cotyledon's fork throttle is off

    victim_number = 0
    victim = workers[victim_number]
    os.kill(victim, signal.SIGKILL)
    respawned = run.wait_for_workers(
        lambda w: len(w) == 2 and w.get(victim_number) not in (None, victim)
    )
    assert respawned[1] == workers[1]
    new_pid = str(respawned[victim_number])
    clients.wait_for_answers(5, pid=new_pid)  # the new worker serves
    clients.finish()

    outcomes = clients.outcomes()
    assert all(len(seen) == 1 for seen in outcomes.values())
    lost = sorted(i for i, seen in outcomes.items() if seen[0][0] == "error")
    errors = {outcomes[i][0][1]["error"] for i in lost}
    taken_by = {}
    for event in run.events("taken"):
        taken_by.setdefault(event["id"], set()).add(event["pid"])
    survivors = {str(pid) for pid in respawned.values()}
    answered_by = {}
    for event in run.events("answered"):
        answered_by.setdefault(event["id"], set()).add(event["pid"])
    # Counted on both sides: a call lost was taken by the killed worker (oslo.messaging
    # acknowledges a call before running it) or by nobody; no survivor answered it.
    for call_id in lost:
        assert not answered_by.get(call_id, set()) & survivors, call_id
        assert taken_by.get(call_id, {str(victim)}) == {str(victim)}, call_id
    assert errors <= {"MessagingTimeout"}, errors
    assert len(lost) <= 4, lost  # at most one call in flight per client
    answered_twice = [i for i, pids in answered_by.items() if len(pids) > 1]
    assert not answered_twice
    record_property("calls_lost_with_killed_worker", len(lost))
    # Reported on every run, passed or not (the warnings summary shows it).
    warnings.warn(
        f"kill -9 of worker {victim_number} (pid {victim}): {len(lost)} of "
        f"{len(outcomes)} calls lost with it: {lost}",
        stacklevel=1,
    )

    service.send_signal(signal.SIGTERM)
    assert service.wait(30) == 0
