"""Our futurist-based pool: each test names the futurist 3.5.0 behaviour it fixes."""

import threading
import time

import futurist
from futurist import rejection
import pytest

from oslo_threading_backend._threads.pool import ThreadPoolExecutor
from tests.unit.polling import wait_until

WAIT = 5.0  # upper bound for anything that should happen "soon"


@pytest.fixture
def make_pool():
    pools = []

    def make(max_workers=2, **kwargs):
        pool = ThreadPoolExecutor(max_workers, **kwargs)
        pools.append(pool)
        return pool

    yield make
    for pool in pools:
        pool.shutdown(wait=True, cancel_futures=True)


def blocker(started, release):
    started.set()
    assert release.wait(WAIT)
    return "released"


def test_threads_are_named_after_the_pool(make_pool):
    pool = make_pool(2, name="proc.default")
    assert pool.submit(lambda: threading.current_thread().name).result(WAIT) == ("proc.default-1")


def test_idle_thread_is_reused_instead_of_starting_another(make_pool):
    # futurist starts a new thread on every submit until max_workers.
    pool = make_pool(5)
    for _ in range(5):
        pool.submit(lambda: None).result(WAIT)
        wait_until(lambda: pool.get_num_idle_workers() == 1)
    assert pool.num_workers == 1


def test_pool_is_bounded_and_queues_beyond_max_workers(make_pool):
    pool = make_pool(2)
    release = threading.Event()
    starts = [threading.Event() for _ in range(3)]
    futs = [pool.submit(blocker, s, release) for s in starts]
    assert starts[0].wait(WAIT) and starts[1].wait(WAIT)
    assert pool.num_workers == 2
    assert pool.get_num_idle_workers() == 0
    assert pool.queue_size == 1
    assert not starts[2].is_set()
    release.set()
    assert [f.result(WAIT) for f in futs] == ["released"] * 3
    wait_until(lambda: pool.get_num_idle_workers() == 2)


def test_idle_threads_exit_after_idle_timeout(make_pool):
    # futurist never shrinks its pool.
    pool = make_pool(3, idle_timeout=0.05)
    release = threading.Event()
    starts = [threading.Event() for _ in range(3)]
    futs = [pool.submit(blocker, s, release) for s in starts]
    assert all(s.wait(WAIT) for s in starts)
    assert pool.num_workers == 3
    release.set()
    for f in futs:
        f.result(WAIT)
    wait_until(lambda: pool.num_workers == 0)
    assert pool.get_num_idle_workers() == 0
    # ...and the pool grows again on demand.
    assert pool.submit(lambda: 42).result(WAIT) == 42
    assert pool.num_workers == 1


def test_shutdown_of_idle_pool_does_not_wait_for_idle_poll(make_pool):
    # futurist's idle threads poll every second, so shutdown(wait=True) takes ~1 s.
    pool = make_pool(3)
    for _ in range(3):
        pool.submit(lambda: None)
    wait_until(lambda: pool.get_num_idle_workers() == pool.num_workers)
    started = time.monotonic()
    pool.shutdown(wait=True)
    assert time.monotonic() - started < 0.5
    assert pool.num_workers == 0


def test_shutdown_wait_runs_queued_work(make_pool):
    pool = make_pool(1)
    release = threading.Event()
    started = threading.Event()
    first = pool.submit(blocker, started, release)
    queued = pool.submit(lambda: "queued ran")
    assert started.wait(WAIT)
    threading.Timer(0.01, release.set).start()
    pool.shutdown(wait=True)
    assert first.result(0) == "released"
    assert queued.result(0) == "queued ran"


def test_shutdown_without_wait_still_runs_queued_work(make_pool):
    # futurist's shutdown(wait=False) leaves queued futures pending forever.
    pool = make_pool(1)
    release = threading.Event()
    started = threading.Event()
    pool.submit(blocker, started, release)
    queued = pool.submit(lambda: "queued ran")
    assert started.wait(WAIT)
    pool.shutdown(wait=False)
    release.set()
    assert queued.result(WAIT) == "queued ran"
    assert pool.join(WAIT)


def test_shutdown_cancel_futures_cancels_queued_work(make_pool):
    # futurist ignores cancel_futures.
    pool = make_pool(1)
    release = threading.Event()
    started = threading.Event()
    running = pool.submit(blocker, started, release)
    queued = [pool.submit(lambda: None) for _ in range(3)]
    assert started.wait(WAIT)
    pool.shutdown(wait=False, cancel_futures=True)
    assert all(f.cancelled() for f in queued)
    release.set()
    assert running.result(WAIT) == "released"
    assert pool.join(WAIT)
    assert pool.statistics.cancelled == 3


def test_join_reports_threads_still_running(make_pool):
    pool = make_pool(1)
    release = threading.Event()
    started = threading.Event()
    pool.submit(blocker, started, release)
    assert started.wait(WAIT)
    pool.shutdown(wait=False)
    assert pool.join(0.01) is False
    release.set()
    assert pool.join(WAIT) is True


def test_submit_after_shutdown_raises(make_pool):
    pool = make_pool(1)
    pool.shutdown()
    assert not pool.alive
    with pytest.raises(RuntimeError):
        pool.submit(lambda: None)


def test_system_exit_in_task_keeps_the_thread(make_pool):
    pool = make_pool(1)

    def leave():
        raise SystemExit(3)

    with pytest.raises(SystemExit):
        pool.submit(leave).result(WAIT)
    assert pool.submit(lambda: "alive").result(WAIT) == "alive"
    assert pool.num_workers == 1


def test_statistics_and_check_and_reject_keep_futurist_meaning(make_pool):
    pool = make_pool(1, check_and_reject=rejection.reject_when_reached(1))
    release = threading.Event()
    started = threading.Event()
    first = pool.submit(blocker, started, release)
    assert started.wait(WAIT)
    pool.submit(lambda: None)
    with pytest.raises(futurist.RejectedSubmission):
        pool.submit(lambda: None)
    release.set()
    first.result(WAIT)
    wait_until(lambda: pool.statistics.executed == 2)
    assert pool.statistics.failures == 0


def test_concurrent_submits_all_complete_and_accounting_settles(make_pool):
    pool = make_pool(4, idle_timeout=0.01)
    results = []
    lock = threading.Lock()

    def submitter(base):
        futs = [pool.submit(lambda i=i: i + base) for i in range(200)]
        values = [f.result(WAIT) for f in futs]
        with lock:
            results.extend(values)

    threads = [threading.Thread(target=submitter, args=(n * 1000,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT)
    assert len(results) == 800
    wait_until(lambda: pool.num_workers == pool.get_num_idle_workers())
    assert pool._backlog == 0
    assert pool.num_workers <= 4


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"max_workers": 0}, ValueError),
        ({"max_workers": -1}, ValueError),
        ({"max_workers": "3"}, TypeError),
        ({"max_workers": True}, TypeError),
        ({"max_workers": 1, "idle_timeout": 0}, ValueError),
        ({"max_workers": 1, "idle_timeout": -1}, ValueError),
        ({"max_workers": 1, "idle_timeout": "1"}, TypeError),
        ({"max_workers": 1, "name": ""}, TypeError),
    ],
)
def test_bad_arguments_are_rejected(kwargs, error):
    with pytest.raises(error, match=next(iter(k for k in kwargs if k != "max_workers"), "max")):
        ThreadPoolExecutor(**kwargs)


def test_failed_thread_start_fails_the_submit_and_keeps_the_count(make_pool, monkeypatch):
    pool = make_pool(2)

    def cannot_start(self):
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(threading.Thread, "start", cannot_start)
    with pytest.raises(RuntimeError, match="can't start"):
        pool.submit(lambda: None)
    assert pool.num_workers == 0 and pool.queue_size == 0
    monkeypatch.undo()
    assert pool.submit(lambda: 1).result(WAIT) == 1


def test_statistics_count_executed_failed_and_running_time():
    pool = ThreadPoolExecutor(1, name="stats")
    try:
        ok = pool.submit(time.sleep, 0.01)
        bad = pool.submit(lambda: 1 / 0)
        ok.result(WAIT)
        assert isinstance(bad.exception(WAIT), ZeroDivisionError)
        wait_until(lambda: pool.statistics.executed + pool.statistics.failures == 2)
        stats = pool.statistics
        assert (stats.executed, stats.failures, stats.cancelled) == (1, 1, 0)
        assert stats.runtime >= 0.01
    finally:
        pool.shutdown()


def test_a_task_is_counted_and_its_thread_idle_before_its_caller_wakes(make_pool):
    # The future's callbacks run in the pool thread inside set_result(), where its
    # caller wakes: the task is already in the statistics and the thread is free,
    # so a caller that submits again at once reuses it.
    pool = make_pool(3)
    seen = []

    def at_wake(_future):
        seen.append((pool.statistics.executed, pool.get_num_idle_workers()))

    release = threading.Event()
    future = pool.submit(lambda: release.wait(WAIT) and "done")
    future.add_done_callback(at_wake)  # before it ends: run by the pool thread
    release.set()
    assert future.result(WAIT) == "done"
    wait_until(lambda: seen)
    assert seen == [(1, 1)]
    release.clear()
    failed = pool.submit(lambda: release.wait(WAIT) and 1 / 0)
    failed.add_done_callback(lambda _f: seen.append(pool.statistics.failures))
    release.set()
    assert isinstance(failed.exception(WAIT), ZeroDivisionError)
    wait_until(lambda: len(seen) == 2)
    assert seen[1] == 1
    assert pool.num_workers == 1


def test_the_threads_a_steady_load_does_not_need_leave(make_pool):
    """The threads a steady load does not need leave, though none waits idle_timeout.

    The queue wakes its waiting threads first in, first out: each of the burst's
    six threads takes every sixth task and none is ever idle for ``idle_timeout``,
    so the pool held its peak for as long as the load lasted.
    """
    pool = make_pool(6, idle_timeout=0.3)
    started = [threading.Event() for _ in range(6)]
    release = threading.Event()
    futures = [pool.submit(blocker, s, release) for s in started]
    assert all(s.wait(WAIT) for s in started)
    release.set()
    assert [f.result(WAIT) for f in futures] == ["released"] * 6
    deadline = time.monotonic() + WAIT
    while pool.num_workers > 1:  # one task after another, as long as it takes
        assert time.monotonic() < deadline, f"{pool.num_workers} threads still in the pool"
        assert pool.submit(pow, 2, 3).result(WAIT) == 8
    assert pool.submit(pow, 2, 3).result(WAIT) == 8
    assert pool.num_workers == 1
