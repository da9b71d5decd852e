"""oslo.messaging's default 'threading' executor in a real worker, on the real broker.

The executor is futurist's ThreadPoolExecutor (``executor_thread_pool_size``, 64):
futurist starts a thread per call until 64, though the calls come one at a time.
With ``[DEFAULT] futurist_threads_on_demand`` (the default) a thread is started
only when none is free, and idle ones exit after ``thread_pool_idle_timeout``.
The worker's threads are read from /proc; the endpoint reports the futurist
pool threads alive when it answers (``pool=``). Concurrent calls also add
oslo.messaging's reply connections, each with a heartbeat thread: those are not
the pool's, hence the pool count there.
"""

import signal

from tests.integration.harness import poll

IDLE_TIMEOUT = 1.0


def _threads(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("Threads:"):
                return int(line.split()[1])
    raise AssertionError(f"no Threads line for pid {pid}")


def _one_worker(rpc_run, **defaults):
    run = rpc_run()
    service = run.start_service(
        workers=1,
        executor="futurist",
        defaults={"thread_pool_idle_timeout": IDLE_TIMEOUT, **defaults},
    )
    [pid] = service.worker_pids().values()
    return run, service, pid


def _calls(run, prefix, calls=1, clients=1, seconds=0.0):
    """Run the calls to their answers; the pool thread counts they were answered with."""
    done = run.start_clients(clients=clients, calls=calls, seconds=seconds, prefix=prefix)
    done.wait_for_answers(calls * clients, timeout=60)
    done.finish()
    return [int(e["pool"]) for e in run.events("answered") if e["id"].startswith(f"{prefix}")]


def _stop(service):
    service.send_signal(signal.SIGTERM)
    assert service.wait(30) == 0


def test_a_burst_of_sequential_calls_keeps_the_worker_small(rpc_run):
    run, service, pid = _one_worker(rpc_run)
    _calls(run, "warm", calls=2)  # the consumer and the connections exist
    before = _threads(pid)
    pools = _calls(run, "seq", calls=80)
    # The reply leaves before the pool thread is free again: the next call may
    # come first and start a second thread (as with the standard library's pool).
    assert max(pools) <= 2, pools
    assert _threads(pid) <= before + 2, (before, _threads(pid))
    _stop(service)


def test_concurrent_calls_grow_the_pool_and_idle_threads_leave(rpc_run):
    # Each late call below comes from a new client process, ~0.5-1 s apart: with an
    # idle timeout of about that gap, one idle thread after another takes a call
    # just before its time is up and two stay alive. 0.2 s keeps the gaps longer.
    run, service, _ = _one_worker(rpc_run, thread_pool_idle_timeout=0.2)
    # 8 clients whose calls take 2 s each: 8 run at once, on 8 pool threads.
    pools = _calls(run, "par", calls=1, clients=8, seconds=2.0)
    assert max(pools) == 8, pools
    # Idle for longer than thread_pool_idle_timeout: they leave; a new call finds
    # only the thread started for it.
    poll(lambda: _calls(run, f"late{len(run.events())}")[0] == 1, what="idle threads to exit")
    _stop(service)


def test_with_the_option_off_futurist_starts_a_thread_per_call(rpc_run):
    run, service, pid = _one_worker(rpc_run, futurist_threads_on_demand=False)
    _calls(run, "warm", calls=2)
    before = _threads(pid)
    pools = _calls(run, "seq", calls=80)
    assert max(pools) == 64, pools  # executor_thread_pool_size
    assert _threads(pid) >= before + 60, (before, _threads(pid))
    _stop(service)
