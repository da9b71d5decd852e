"""futurist pools start threads on demand and retire idle ones: against the real futurist.

Each behaviour is checked with the fix in, and the upstream behaviour it replaces
without it (so the tests fail without the change).
"""

import concurrent.futures
import logging
import os
import random
import subprocess
import sys
import threading

import futurist
from futurist import _futures as futurist_futures
from futurist import _thread as futurist_thread
from futurist import rejection
from oslo_config import cfg
import pytest

from oslo_threading_backend import service
from oslo_threading_backend._processes import glibc_malloc as _glibc_malloc
from oslo_threading_backend._upstream import futurist_fixes as _futurist_fixes
from oslo_threading_backend._upstream import futurist_pool_growth as _pool_growth
from tests.unit import forking
from tests.unit import polling

IDLE = 0.3  # seconds a thread may idle before it exits, in these tests
LOG_LINE = "starts a thread only when none is idle"
SUMMARY = "futurist threads on demand ([DEFAULT] futurist_threads_on_demand)"


@pytest.fixture
def on_demand():
    assert _futurist_fixes.apply_threads_on_demand(IDLE)
    yield
    _futurist_fixes.remove()


@pytest.fixture
def never_idle_out():
    assert _futurist_fixes.apply_threads_on_demand(None)
    yield
    _futurist_fixes.remove()


def _blocked(pool, n):
    """n tasks running at once on ``pool``, all held until the returned event is set."""
    gate = threading.Event()
    started = threading.Barrier(n + 1)

    def task(i):
        started.wait(polling.WAIT)
        gate.wait(polling.WAIT)
        return i

    futures = [pool.submit(task, i) for i in range(n)]
    started.wait(polling.WAIT)  # n tasks run together: n threads exist
    return gate, futures


def test_sequential_submits_reuse_one_thread(on_demand):
    pool = futurist.ThreadPoolExecutor(max_workers=40)
    for i in range(200):
        assert pool.submit(pow, i, 2).result(polling.WAIT) == i * i
    # 1 as a rule; a result is delivered before its thread is free again, so a
    # submit right after it may find none free and start a second one (as the
    # standard library's pool does). futurist started 40.
    assert pool.num_workers <= 2
    pool.shutdown(wait=True)


def test_without_the_fix_futurist_starts_a_thread_per_submit():
    assert not _futurist_fixes.threads_on_demand_applied()
    pool = futurist.ThreadPoolExecutor(max_workers=40)
    for i in range(60):
        pool.submit(pow, i, 2).result(polling.WAIT)
    assert pool.num_workers == 40
    pool.shutdown(wait=True)


@pytest.mark.parametrize("n", [1, 5, 16])
def test_n_blocked_tasks_get_n_threads_and_no_more(on_demand, n):
    pool = futurist.ThreadPoolExecutor(max_workers=32)
    gate, futures = _blocked(pool, n)
    assert pool.num_workers == n
    gate.set()
    assert [f.result(polling.WAIT) for f in futures] == list(range(n))
    # Free again: the next burst of the same size starts no thread.
    polling.wait_until(lambda: pool.get_num_idle_workers() == n)
    gate, futures = _blocked(pool, n)
    assert pool.num_workers == n
    gate.set()
    concurrent.futures.wait(futures, polling.WAIT)
    pool.shutdown(wait=True)


def test_tasks_beyond_max_workers_queue_and_all_run(on_demand):
    pool = futurist.ThreadPoolExecutor(max_workers=3)
    gate, blockers = _blocked(pool, 3)
    queued = [pool.submit(pow, i, 2) for i in range(20)]
    assert pool.num_workers == 3
    assert pool.queue_size == 20
    gate.set()
    assert [f.result(polling.WAIT) for f in queued] == [i * i for i in range(20)]
    assert [f.result(polling.WAIT) for f in blockers] == [0, 1, 2]
    assert pool.num_workers == 3
    # The backlog was counted right: a new blocked pair needs no queueing.
    polling.wait_until(lambda: pool.get_num_idle_workers() == 3)
    gate, futures = _blocked(pool, 3)
    gate.set()
    concurrent.futures.wait(futures, polling.WAIT)
    pool.shutdown(wait=True)


def test_idle_threads_exit_after_the_idle_timeout_and_memory_is_trimmed(on_demand, monkeypatch):
    trimmer = _glibc_malloc.DelayedTrim(delay=0.05)
    monkeypatch.setattr(_glibc_malloc, "trimmer", trimmer)
    pool = futurist.ThreadPoolExecutor(max_workers=8)
    gate, futures = _blocked(pool, 8)
    threads = list(pool._workers)
    gate.set()
    concurrent.futures.wait(futures, polling.WAIT)
    polling.wait_until(lambda: pool.num_workers == 0)
    for thread in threads:
        thread.join(polling.WAIT)
        assert not thread.is_alive()
    if _glibc_malloc.glibc_version():
        polling.wait_until(lambda: trimmer.trims >= 1)
        assert trimmer.trims <= 2  # threads that retire together: one trim (or two)
    # The pool still serves after its threads left, on one new thread.
    assert pool.submit(pow, 3, 2).result(polling.WAIT) == 9
    assert pool.num_workers == 1
    pool.shutdown(wait=True)


def test_without_the_fix_idle_threads_stay(monkeypatch):
    monkeypatch.setattr(futurist_thread.ThreadWorker, "MAX_IDLE_FOR", 0.05)
    pool = futurist.ThreadPoolExecutor(max_workers=4)
    gate, futures = _blocked(pool, 4)
    gate.set()
    concurrent.futures.wait(futures, polling.WAIT)
    polling.wait_until(lambda: pool.get_num_idle_workers() == 4)
    threading.Event().wait(IDLE * 3)  # three idle timeouts of the fixed pools: none exits
    assert pool.num_workers == 4
    assert all(t.is_alive() for t in pool._workers)
    pool.shutdown(wait=True)


def test_no_idle_timeout_keeps_the_threads(never_idle_out, monkeypatch):
    monkeypatch.setattr(futurist_thread.ThreadWorker, "MAX_IDLE_FOR", 0.05)
    pool = futurist.ThreadPoolExecutor(max_workers=4)
    gate, futures = _blocked(pool, 2)
    gate.set()
    concurrent.futures.wait(futures, polling.WAIT)
    threading.Event().wait(0.3)  # six polls
    assert pool.num_workers == 2
    pool.shutdown(wait=True)


def test_results_exceptions_statistics_and_shutdown_are_futuristss(on_demand):
    pool = futurist.ThreadPoolExecutor(max_workers=4)

    def fail():
        raise KeyError("boom")

    ok = pool.submit(pow, 2, 10)
    bad = pool.submit(fail)
    assert ok.result(polling.WAIT) == 1024
    with pytest.raises(KeyError, match="boom"):
        bad.result(polling.WAIT)
    gate, blockers = _blocked(pool, 4)
    queued = [pool.submit(pow, i, 3) for i in range(10)]
    stopper = threading.Thread(target=pool.shutdown, kwargs={"wait": True})
    stopper.start()
    polling.wait_until(lambda: not pool.alive)
    with pytest.raises(RuntimeError, match="after being shutdown"):
        pool.submit(pow, 1, 1)
    gate.set()
    stopper.join(polling.WAIT)
    assert not stopper.is_alive()
    assert [f.result(0) for f in queued] == [i**3 for i in range(10)]
    stats = pool.statistics
    assert (stats.executed, stats.failures) == (16, 1)
    assert not any(t.is_alive() for t in pool._workers)


def test_check_and_reject_still_sees_the_backlog(on_demand):
    pool = futurist.ThreadPoolExecutor(
        max_workers=1, check_and_reject=rejection.reject_when_reached(2)
    )
    gate, _ = _blocked(pool, 1)
    pool.submit(pow, 1, 1)
    pool.submit(pow, 1, 1)
    with pytest.raises(futurist.RejectedSubmission):
        pool.submit(pow, 1, 1)
    gate.set()
    pool.shutdown(wait=True)


def test_many_submitters_with_retiring_threads_run_everything(on_demand, monkeypatch):
    # Threads retire while others submit: the counts stay exact (no task waits
    # for a thread that left, no more threads than max_workers).
    monkeypatch.setattr(_pool_growth.settings, "idle_timeout", 0.002)
    pool = futurist.ThreadPoolExecutor(max_workers=6)
    rng = random.Random(18)
    waits = [rng.choice((0, 0, 0.001, 0.003)) for _ in range(400)]
    seen = []

    def task(i, wait):
        seen.append(pool.num_workers)
        threading.Event().wait(wait)
        return i

    def submitter(part):
        futures = [pool.submit(task, i, waits[i]) for i in part]
        return [f.result(polling.WAIT) for f in futures]

    parts = [range(k, 400, 4) for k in range(4)]
    with concurrent.futures.ThreadPoolExecutor(4) as outer:
        results = list(outer.map(submitter, parts))
    assert sorted(sum(results, [])) == list(range(400))
    assert max(seen) <= 6
    pool.shutdown(wait=True)


def test_the_dynamic_pool_keeps_its_own_policy(on_demand):
    pool = futurist.DynamicThreadPoolExecutor(max_workers=8, min_workers=1)
    gate, futures = _blocked(pool, 6)
    assert pool.num_workers >= 6
    gate.set()
    concurrent.futures.wait(futures, polling.WAIT)
    assert _pool_growth._COUNTS not in pool.__dict__
    pool.shutdown(wait=True)


def test_a_pool_with_threads_from_before_the_fix_keeps_futurists_way():
    pool = futurist.ThreadPoolExecutor(max_workers=5)
    pool.submit(pow, 1, 1).result(polling.WAIT)
    assert _futurist_fixes.apply_threads_on_demand(IDLE)
    try:
        for _ in range(6):
            pool.submit(pow, 1, 1).result(polling.WAIT)
        assert pool.num_workers == 5
        assert pool.__dict__[_pool_growth._COUNTS] is False
    finally:
        pool.shutdown(wait=True)
        _futurist_fixes.remove()


def test_a_forked_child_starts_its_own_threads(never_idle_out):
    pool = futurist.ThreadPoolExecutor(max_workers=2)
    gate, futures = _blocked(pool, 2)
    gate.set()
    concurrent.futures.wait(futures, polling.WAIT)
    polling.wait_until(lambda: pool.get_num_idle_workers() == 2)

    def in_child():
        # Two idle threads were counted in the parent; none exists here.
        gate, futures = _blocked(pool, 2)
        gate.set()
        done = [f.result(polling.WAIT) for f in futures]
        return f"{done} {pool.num_workers} {os.getpid()}"

    report = forking.run_in_child(in_child)
    assert report.startswith("[0, 1] 2 "), report
    assert pool.submit(pow, 2, 2).result(polling.WAIT) == 4  # the parent's pool is intact
    pool.shutdown(wait=True)


def test_apply_is_idempotent_logs_once_and_remove_restores(caplog):
    spin_up = futurist_futures.ThreadPoolExecutor.__dict__["_maybe_spin_up"]
    wait = futurist_thread.ThreadWorker.__dict__["_wait_for_work"]
    with caplog.at_level(logging.DEBUG, logger="oslo_threading_backend._upstream"):
        assert _futurist_fixes.apply_threads_on_demand(60.0)
        assert _futurist_fixes.apply_threads_on_demand(5.0)  # updates the timeout
    lines = [r for r in caplog.records if LOG_LINE in r.getMessage()]
    assert len(lines) == 1
    assert lines[0].levelno == logging.DEBUG
    assert "exits after 60 s ([DEFAULT] thread_pool_idle_timeout)" in lines[0].getMessage()
    assert _pool_growth.settings.idle_timeout == 5.0
    _futurist_fixes.remove()
    assert futurist_futures.ThreadPoolExecutor.__dict__["_maybe_spin_up"] is spin_up
    assert futurist_thread.ThreadWorker.__dict__["_wait_for_work"] is wait
    assert not _futurist_fixes.threads_on_demand_applied()


def test_another_futurist_gets_one_warning_and_no_change(monkeypatch, caplog):
    monkeypatch.delattr(futurist_futures.ThreadPoolExecutor, "_maybe_spin_up")
    _futurist_fixes._not_applied_on_demand.cache_clear()
    with caplog.at_level(logging.WARNING, logger=_futurist_fixes.__name__):
        assert not _futurist_fixes.apply_threads_on_demand(IDLE)
        assert not _futurist_fixes.apply_threads_on_demand(IDLE)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "ThreadPoolExecutor._maybe_spin_up" in warnings[0].getMessage()
    _futurist_fixes._not_applied_on_demand.cache_clear()


def _conf(**overrides):
    conf = cfg.ConfigOpts()
    conf([])
    _futurist_fixes.register_opts(conf)
    for name, value in overrides.items():
        conf.set_override(name, value)
    return conf


def test_the_launchers_apply_it_with_the_idle_timeout_option(caplog):
    conf = _conf()
    with caplog.at_level(logging.INFO, logger="oslo_threading_backend._upstream"):
        service.ProcessLauncher(conf)
    [summary] = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert summary.startswith("Upstream fixes applied: ")
    assert SUMMARY in summary
    assert _futurist_fixes.threads_on_demand_applied()
    assert _pool_growth.settings.idle_timeout == conf.thread_pool_idle_timeout


def test_the_option_off_leaves_futurists_pools_alone(caplog):
    with caplog.at_level(logging.INFO, logger=_futurist_fixes.__name__):
        service.ServiceLauncher(_conf(futurist_threads_on_demand=False))
    assert not _futurist_fixes.threads_on_demand_applied()
    assert _futurist_fixes.is_applied()  # the other fix is its own option
    assert "futurist threads on demand" not in caplog.text


_TRIM_PROGRAM = """
import sys, threading, time
from oslo_threading_backend import backend
backend.init_backend(backend.BackendType.THREADING)
import futurist
from oslo_threading_backend._upstream import futurist_fixes
from oslo_threading_backend._processes import glibc_malloc
glibc_malloc.trimmer.enabled = sys.argv[1] == "trim"
futurist_fixes.apply_threads_on_demand(0.2)
pool = futurist.ThreadPoolExecutor(max_workers=8)
together = threading.Barrier(8)
kept = []
def churn():
    together.wait()
    blocks = [bytes(1000) for _ in range(4000)]  # 4 MB of malloc chunks, in this thread's arena
    kept.append(bytes(1000))  # above them: the arena cannot shrink by itself
    del blocks
for f in [pool.submit(churn) for _ in range(8)]:
    f.result()
def uss_mib():
    with open("/proc/self/smaps_rollup") as f:
        return sum(int(l.split()[1]) for l in f
                   if l.startswith(("Private_Clean", "Private_Dirty"))) // 1024
before = uss_mib()
deadline = time.monotonic() + 20
while pool.num_workers or (glibc_malloc.trimmer.enabled and not glibc_malloc.trimmer.trims):
    assert time.monotonic() < deadline, "threads did not retire, or no trim"
    threading.Event().wait(0.05)
threading.Event().wait(0.3)  # the trim thread's own ending
print(before, uss_mib())
"""


@pytest.mark.skipif(not _glibc_malloc.glibc_version(), reason="glibc's malloc_trim")
def test_the_memory_of_retired_threads_goes_back_to_the_os():
    # 8 threads free 32 MB of small chunks held in their arenas below a live one:
    # glibc keeps it until malloc_trim(0), which the retirement asks for.
    def run(mode):
        done = subprocess.run(
            [sys.executable, "-c", _TRIM_PROGRAM, mode],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        before, after = map(int, done.stdout.split())
        return before - after

    assert run("trim") >= 16
    assert run("keep") < 8  # without the trim glibc keeps it


def test_a_steady_load_lets_the_threads_it_does_not_need_go(on_demand):
    """A new task wakes the thread idle the shortest time, so the others retire.

    ``queue.Queue`` wakes its waiting threads first in, first out, and futurist's
    threads wait again every second: the eight threads of a burst would take turns
    under the load that follows and none would reach the idle timeout.
    """
    pool = futurist.ThreadPoolExecutor(max_workers=8)
    gate, futures = _blocked(pool, 8)
    gate.set()
    concurrent.futures.wait(futures, polling.WAIT)
    deadline = threading.Event()
    timer = threading.Timer(polling.WAIT, deadline.set)
    timer.start()
    try:
        # One task after another; a result is delivered before its thread waits
        # again, so a submit right after it may wake a second one (see above).
        while pool.num_workers > 2:
            assert not deadline.is_set(), f"{pool.num_workers} threads still in the pool"
            assert pool.submit(pow, 2, 3).result(polling.WAIT) == 8
    finally:
        timer.cancel()
    pool.shutdown(wait=True)
