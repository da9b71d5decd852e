"""The futurist fast-shutdown fix against the real futurist.

futurist's idle poll (``ThreadWorker.MAX_IDLE_FOR``) is made 5 s here, so that
"woken at once" and "waited out the poll" differ by seconds: behaviours, not
timing goals.
"""

import concurrent.futures
import gc
import importlib.metadata
import logging
import sys
import threading
import time

import futurist
from futurist import _thread as futurist_thread
from oslo_config import cfg
import pytest

from oslo_threading_backend import backend
from oslo_threading_backend import service
from oslo_threading_backend._upstream import futurist_fixes as _futurist_fixes
from tests.unit import polling

POLL = 5.0
FAST = POLL / 2  # well under the poll: the threads were woken
SLOW = POLL * 0.8  # the threads waited out the poll
LOG_LINE = "idle workers are woken at shutdown"
SUMMARY = (
    "Upstream fixes applied: futurist fast shutdown ([DEFAULT] futurist_fast_shutdown), "
    "futurist threads on demand ([DEFAULT] futurist_threads_on_demand), "
    "futurist stuck-task reports ([DEFAULT] hung_task_threshold)"
)


@pytest.fixture
def slow_poll(monkeypatch):
    monkeypatch.setattr(futurist_thread.ThreadWorker, "MAX_IDLE_FOR", POLL)


@pytest.fixture
def fixed():
    assert _futurist_fixes.apply()
    yield
    _futurist_fixes.remove()


def _idle_pool(workers=4, cls=futurist.ThreadPoolExecutor, **kwargs):
    """A pool whose ``workers`` threads all exist and wait for work."""
    pool = cls(max_workers=workers, **kwargs)
    gate = threading.Barrier(workers + 1)
    done = [pool.submit(gate.wait, polling.WAIT) for _ in range(workers)]
    gate.wait(polling.WAIT)  # every task runs on its own thread: all threads exist
    concurrent.futures.wait(done, polling.WAIT)
    polling.wait_until(lambda: pool.get_num_idle_workers() == workers)
    return pool


def _timed_shutdown(pool):
    threads = list(pool._workers)
    started = time.monotonic()
    pool.shutdown(wait=True)
    elapsed = time.monotonic() - started
    assert not any(t.is_alive() for t in threads)
    return elapsed


def test_idle_pool_shuts_down_at_once_with_the_fix(slow_poll, fixed):
    assert _timed_shutdown(_idle_pool(4)) < FAST


def test_without_the_fix_futurist_waits_out_its_idle_poll(slow_poll):
    assert not _futurist_fixes.is_applied()
    assert _timed_shutdown(_idle_pool(2)) > SLOW


def test_a_large_idle_pool_shuts_down_at_once(slow_poll, fixed):
    # Many threads share one queue: a wake taken by another stopping thread is handed on.
    for _ in range(3):
        assert _timed_shutdown(_idle_pool(32)) < FAST


def test_a_wake_taken_by_another_stopping_thread_is_handed_on(slow_poll, fixed):
    pool = futurist.ThreadPoolExecutor(max_workers=2)
    release_a = threading.Event()

    def hold():
        release_a.wait(polling.WAIT)
        return threading.current_thread()

    held = pool.submit(hold)  # runs on thread A, whichever of the two it is
    pool.submit(lambda: None).result(polling.WAIT)  # thread B: idle first
    polling.wait_until(lambda: pool.get_num_idle_workers() == 1)
    release_a.set()
    a = held.result(polling.WAIT)
    (b,) = [w for w in pool._workers if w is not a]
    polling.wait_until(lambda: a.idle)
    # Both stop, but only A's wake is queued: B, waiting longest, is woken first and
    # takes it; B exits after it and must hand it on, or A would wait its 5 s poll.
    stop_without_wake = futurist_thread.ThreadWorker.stop.__wrapped__
    stop_without_wake(b)
    started = time.monotonic()
    futurist_thread.ThreadWorker.stop(a)
    a.join(POLL * 2)
    b.join(POLL * 2)
    assert time.monotonic() - started < FAST
    pool.shutdown(wait=True)


def test_queued_work_still_runs_on_shutdown(slow_poll, fixed):
    pool = futurist.ThreadPoolExecutor(max_workers=2)
    gate = threading.Event()
    blockers = [pool.submit(gate.wait, polling.WAIT) for _ in range(2)]
    queued = [pool.submit(lambda i=i: i * i) for i in range(20)]
    polling.wait_until(lambda: pool.queue_size == 20)
    stopper = threading.Thread(target=pool.shutdown, kwargs={"wait": True})
    stopper.start()
    gate.set()
    stopper.join(FAST)
    assert not stopper.is_alive()
    assert all(f.result(0) for f in blockers)
    assert [f.result(0) for f in queued] == [i * i for i in range(20)]
    # The wakes are not the pool's work: they are not counted.
    assert pool.statistics.executed == 22


def test_dynamic_pool_grows_shrinks_and_runs_everything(fixed):
    # Shrinking stops one idle thread and queues its wake before the new task:
    # the wake is a no-op for whichever thread takes it.
    pool = futurist.DynamicThreadPoolExecutor(max_workers=8, min_workers=1)
    gate = threading.Event()
    burst = [pool.submit(gate.wait, polling.WAIT) for _ in range(8)]
    assert pool.num_workers > 1
    gate.set()
    assert all(f.result(polling.WAIT) for f in burst)
    grown = pool.num_workers
    polling.wait_until(lambda: pool.get_num_idle_workers() == grown)
    results = [pool.submit(lambda i=i: i + 1).result(polling.WAIT) for i in range(30)]
    assert results == list(range(1, 31))
    assert pool.num_workers < grown
    pool.maintain()
    assert pool.statistics.executed == 38
    pool.shutdown(wait=True)
    assert not any(t.is_alive() for t in pool._workers + pool._dead_workers)


def test_a_collected_pool_stops_its_threads_without_a_wake(fixed, monkeypatch):
    # futurist stops the threads of a garbage-collected pool from a weakref callback,
    # possibly inside a collection on a thread holding the queue's lock: no put() there.
    monkeypatch.setattr(futurist_thread.ThreadWorker, "MAX_IDLE_FOR", 0.2)
    unraisable = []
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)
    pool = _idle_pool(2)
    threads = list(pool._workers)
    del pool
    gc.collect()
    assert all(t.should_stop for t in threads)
    for t in threads:
        t.join(polling.WAIT)
        assert not t.is_alive()
    assert unraisable == []


def test_apply_is_idempotent_logs_details_once_at_debug_and_remove_restores(caplog):
    original = futurist_thread.ThreadWorker.__dict__["stop"]
    with caplog.at_level(logging.DEBUG, logger="oslo_threading_backend._upstream"):
        assert _futurist_fixes.apply()
        assert _futurist_fixes.apply()
    lines = [r for r in caplog.records if LOG_LINE in r.getMessage()]
    assert len(lines) == 1
    assert lines[0].levelno == logging.DEBUG
    message = lines[0].getMessage()
    assert f"futurist {importlib.metadata.version('futurist')} waits up to 1 s" in message
    # apply() alone logs nothing at INFO: the summary is the launchers' (apply_for).
    assert [r for r in caplog.records if r.levelno >= logging.INFO] == []
    assert futurist_thread.ThreadWorker.__dict__["stop"] is not original
    _futurist_fixes.remove()
    assert futurist_thread.ThreadWorker.__dict__["stop"] is original
    assert not _futurist_fixes.is_applied()
    _futurist_fixes.remove()  # nothing to do
    assert futurist_thread.ThreadWorker.__dict__["stop"] is original


def test_the_launcher_logs_one_info_line_naming_the_fix_and_its_option(caplog):
    with caplog.at_level(logging.DEBUG, logger="oslo_threading_backend._upstream"):
        service.ServiceLauncher(_conf())
        service.ProcessLauncher(_conf())  # already applied: no second line
    infos = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO]
    # With oslo.messaging installed, its servers' fix is named in the same line.
    assert len(infos) == 1 and infos[0].startswith(SUMMARY.split(": ")[0]), infos
    assert SUMMARY.split(": ")[1] in infos[0]
    assert len([r for r in caplog.records if LOG_LINE in r.getMessage()]) == 1


def test_another_futurist_gets_one_warning_and_no_change(monkeypatch, caplog):
    monkeypatch.delattr(futurist_thread.ThreadWorker, "_wait_for_work")
    _futurist_fixes._not_applied.cache_clear()
    original = futurist_thread.ThreadWorker.__dict__["stop"]
    with caplog.at_level(logging.WARNING, logger=_futurist_fixes.__name__):
        assert not _futurist_fixes.apply()
        assert not _futurist_fixes.apply()
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "ThreadWorker._wait_for_work" in warnings[0].getMessage()
    assert futurist_thread.ThreadWorker.__dict__["stop"] is original
    _futurist_fixes._not_applied.cache_clear()


def _conf(**overrides):
    conf = cfg.ConfigOpts()
    conf([])
    _futurist_fixes.register_opts(conf)
    for name, value in overrides.items():
        conf.set_override(name, value)
    return conf


@pytest.mark.parametrize("launcher_cls", [service.ServiceLauncher, service.ProcessLauncher])
def test_the_launchers_apply_it_by_default(launcher_cls):
    assert not _futurist_fixes.is_applied()
    launcher_cls(_conf())
    assert _futurist_fixes.is_applied()


def test_the_option_off_leaves_futurist_alone(caplog):
    with caplog.at_level(logging.INFO, logger=_futurist_fixes.__name__):
        service.ServiceLauncher(_conf(futurist_fast_shutdown=False))
    assert not _futurist_fixes.is_applied()
    assert LOG_LINE not in caplog.text
    # The other fix is on: the summary names it alone.
    assert "futurist fast shutdown" not in caplog.text


def test_not_applied_on_the_eventlet_backend(monkeypatch):
    monkeypatch.setattr(backend, "get_backend_type", lambda: backend.BackendType.EVENTLET)
    assert not _futurist_fixes.apply_for(_conf())
    assert not _futurist_fixes.is_applied()


def test_the_option_is_listed_for_the_generator():
    [(group, opts)] = _futurist_fixes.list_opts()
    assert group is None
    assert [(o.name, o.default) for o in opts] == [
        ("futurist_fast_shutdown", True),
        ("futurist_threads_on_demand", True),
    ]
