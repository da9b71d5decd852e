"""RPCService imports the transport driver in the master: the workers inherit it.

Only the import happens before the fork: the master holds no connection to the
broker, and the forked workers connect and serve as before. With
``preload_driver=False`` each worker imports the driver itself in ``start()``.
With the driver, the master also imports kombu's AMQP transport, which the
workers' first connection would import ([DEFAULT] preload_transport_modules).
"""

import os
import signal

import pytest


def _connections_to(pid: int, port: int) -> int:
    """TCP sockets of process ``pid`` connected to ``port`` on this host (from /proc)."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue  # closed meanwhile
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    found = 0
    for table in ("tcp", "tcp6"):
        with open(f"/proc/{pid}/net/{table}") as f:
            next(f)
            for row in f:
                fields = row.split()
                remote_port = int(fields[2].rsplit(":", 1)[1], 16)
                if remote_port == port and fields[9] in inodes:
                    found += 1
    return found


@pytest.mark.parametrize("preload", [True, False], ids=["preloaded", "not-preloaded"])
def test_workers_inherit_the_driver_and_the_master_never_connects(rpc_run, rabbit, preload):
    run = rpc_run()
    service = run.start_service(workers=2, preload_driver=preload)
    workers = service.worker_pids()
    clients = run.start_clients(clients=2, calls=10, seconds=0.0)
    clients.wait_for_answers(20, timeout=60)
    clients.finish()

    starting = run.events("starting")
    assert {e["pid"] for e in starting} == {str(p) for p in workers.values()}
    assert {e["driver_imported"] for e in starting} == {str(preload)}
    # The master imported kombu's transport too when it had the driver.
    assert {e["transport_imported"] for e in starting} == {str(preload)}
    # The workers each hold their own connections; the master none.
    assert all(_connections_to(pid, rabbit.port) > 0 for pid in workers.values())
    assert _connections_to(service.master_pid, rabbit.port) == 0

    service.send_signal(signal.SIGTERM)
    assert service.wait(30) == 0


def test_preload_transport_modules_off_leaves_the_transport_to_the_workers(rpc_run, rabbit):
    run = rpc_run()
    service = run.start_service(workers=2, defaults={"preload_transport_modules": False})
    service.worker_pids()
    clients = run.start_clients(clients=1, calls=5, seconds=0.0)
    clients.wait_for_answers(5, timeout=60)
    clients.finish()

    starting = run.events("starting")
    assert len(starting) == 2
    assert {e["driver_imported"] for e in starting} == {"True"}
    assert {e["transport_imported"] for e in starting} == {"False"}

    service.send_signal(signal.SIGTERM)
    assert service.wait(30) == 0
