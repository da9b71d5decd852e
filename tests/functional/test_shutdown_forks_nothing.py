"""Once a shutdown has begun (SIGINT, SIGTERM), the master forks no worker.

cotyledon 2.2.0's supervisor thread went on forking while the master handled
SIGINT (it never set ``_dead``) or SIGTERM (set after its log line): a worker
forked then missed the signal, started its service and was orphaned ("Parent
process has died unexpectedly"). Signals are sent to the whole process group,
as a terminal's Ctrl-C does, at random points of start-up and while a killed
worker is being respawned; each round is a new run.
"""

import os
import random
import signal
import time

import pytest

from tests.functional.harness import poll

ROUNDS = 12
# The master's lines (a worker's SIGINT line starts with the same words).
MASTER_SIGINT = "_processes.master [-] Caught SIGINT signal, instantaneous exiting"
MASTER_SIGTERM = "_service_manager [-] Caught SIGTERM signal, graceful exiting of master process"


def _session(sid):
    """Live (non-zombie) processes of the session ``sid``: the run's processes."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if fields[0] != "Z" and int(fields[3]) == sid:
            found.append(int(name))
    return found


def _check_no_fork_after(run, shutdown_line):
    log = run.log()
    if shutdown_line in log:
        after = log[log.index(shutdown_line) :]
        assert "Forked worker" not in after, log
    assert "Parent process has died unexpectedly" not in log, log
    # Nothing of the run survives its master: no orphan worker.
    poll(lambda: not _session(run.pid), timeout=5, what="no process left in the session")


def _start(service_process, *args, wait_ready=False):
    return service_process().start(
        "--workers", "4", "--request-seconds", "0.05", *args, wait_ready=wait_ready
    )


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_sigint_to_the_group_during_start_up_forks_nothing_after_it(service_process, round_):
    rng = random.Random(round_)
    # 'spawn' forks slowly enough (fork, exec, pickled service) for the signal
    # to land among the forks of 8 workers in most rounds; 'fork' in the others.
    run = service_process().start(
        "--workers",
        "8",
        "--launcher",
        "process",
        "--start-method",
        "spawn" if round_ % 3 else "fork",
        "--request-seconds",
        "0.05",
        wait_ready=False,
    )
    run.wait_for_events("launched")  # wait() comes next: the master forks
    time.sleep(rng.uniform(0.0, 0.25))  # the point to signal at, not a synchronisation

    os.killpg(run.pid, signal.SIGINT)

    assert run.wait_exit(timeout=10) != 0
    _check_no_fork_after(run, MASTER_SIGINT)


@pytest.mark.parametrize("round_", range(ROUNDS))
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_while_a_killed_worker_is_respawned_forks_nothing_after_it(
    service_process, round_, sig
):
    rng = random.Random(round_)
    run = _start(service_process, wait_ready=True)  # every worker started: no boot failure
    workers = run.wait_for_workers(4)
    run.wait_for_events("started", count=4)

    # Steady state with respawns in flight: kill workers, signal at a random instant.
    for pid in list(workers.values())[: rng.randint(1, 4)]:
        run.send(signal.SIGKILL, pid=pid)
    time.sleep(rng.uniform(0.0, 0.05))  # the point to signal at, not a synchronisation
    if sig == signal.SIGINT:
        os.killpg(run.pid, sig)  # as a terminal's Ctrl-C
    else:
        run.send(sig)

    code = run.wait_exit(timeout=15)
    assert code == (1 if sig == signal.SIGINT else 0)
    _check_no_fork_after(
        run,
        MASTER_SIGINT if sig == signal.SIGINT else MASTER_SIGTERM,
    )
