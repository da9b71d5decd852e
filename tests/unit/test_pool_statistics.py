import logging
import threading

import futurist
import pytest

from oslo_threading_backend import pool_statistics
from oslo_threading_backend._threads.pool import ThreadPoolExecutor
from tests.unit.polling import wait_until

WAIT = 5.0
LOGGER = pool_statistics.__name__


@pytest.fixture
def pool():
    pool = ThreadPoolExecutor(2, name="proc.test")
    yield pool
    pool.shutdown(wait=True, cancel_futures=True)


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def state_lines(caplog):
    return [r for r in caplog.records if r.getMessage().startswith("State of ")]


def test_format_stats_before_anything_ran_does_not_divide_by_zero():
    # futurist's ExecutorStatistics.average_runtime raises ZeroDivisionError here.
    with pytest.raises(ZeroDivisionError):
        _ = futurist.ExecutorStatistics().average_runtime
    text = pool_statistics.format_stats(futurist.ExecutorStatistics())
    assert "executed=0" in text and "average_runtime=0.0000s" in text


def test_format_stats_average():
    stats = futurist.ExecutorStatistics(failures=1, executed=4, runtime=2.0, cancelled=1)
    text = pool_statistics.format_stats(stats)
    assert "failures=1" in text and "cancelled=1" in text
    assert "average_runtime=0.5000s" in text


def test_period_minus_one_never_logs_state(pool, caplog):
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    reporter = pool_statistics.StatisticsReporter("proc.test", -1)
    for _ in range(3):
        reporter.before_submit(pool, "task")
    assert state_lines(caplog) == []


def test_period_zero_logs_state_on_every_submit(pool, caplog):
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    reporter = pool_statistics.StatisticsReporter("proc.test", 0)
    for _ in range(3):
        reporter.before_submit(pool, "task")
    lines = state_lines(caplog)
    assert len(lines) == 3
    assert (
        lines[0]
        .getMessage()
        .startswith(
            "State of proc.test ThreadPoolExecutor when submitting a new task: "
            "max_workers: 2, workers: 0, idle workers: 0, queued work: 0, stats: executed=0"
        )
    )
    assert lines[0].levelno == logging.DEBUG


def test_positive_period_rate_limits_state_logs(pool, caplog):
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    clock = FakeClock()
    reporter = pool_statistics.StatisticsReporter("proc.test", 10, clock=clock)
    reporter.before_submit(pool, "task")
    clock.now += 9.9
    reporter.before_submit(pool, "task")
    assert len(state_lines(caplog)) == 1
    clock.now += 0.1
    reporter.before_submit(pool, "task")
    assert len(state_lines(caplog)) == 2


def test_warning_when_no_free_thread(pool, caplog):
    caplog.set_level(logging.WARNING, logger=LOGGER)
    reporter = pool_statistics.StatisticsReporter("proc.test", -1)
    release = threading.Event()
    started = [threading.Event(), threading.Event()]
    futs = [pool.submit(lambda s=s: (s.set(), release.wait(WAIT))) for s in started]
    try:
        assert all(s.wait(WAIT) for s in started)
        reporter.before_submit(pool, "my_task")
    finally:
        release.set()
    for f in futs:
        f.result(WAIT)
    (record,) = caplog.records
    assert record.levelno == logging.WARNING
    assert record.getMessage() == (
        "The proc.test pool does not have free threads so the task my_task will be "
        "queued. If this happens repeatedly then the size of the pool is too small for "
        "the load or there are stuck threads filling the pool."
    )


class FullPool:
    """A pool that reports no free thread, as ours does from its counters."""

    def has_free_thread(self):
        return False


def warnings_of(caplog):
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


def test_a_saturated_pool_warns_once_per_period_with_the_tasks_held_back(caplog):
    caplog.set_level(logging.WARNING, logger=LOGGER)
    clock = FakeClock()
    reporter = pool_statistics.StatisticsReporter("proc.test", -1, clock, full_warning_period=60)
    full = FullPool()
    for i in range(500):  # a saturated pool under load: hundreds of submits a second
        clock.now = 100.0 + i * 0.1  # 50 s in all
        reporter.before_submit(full, "my_task")
    assert len(warnings_of(caplog)) == 1
    clock.now = 160.0
    reporter.before_submit(full, "other_task")
    first, second = warnings_of(caplog)
    assert first.startswith("The proc.test pool does not have free threads so the task my_task")
    assert second == (
        "The proc.test pool does not have free threads so the task other_task will be "
        "queued. If this happens repeatedly then the size of the pool is too small for "
        "the load or there are stuck threads filling the pool. 499 more tasks were "
        "queued for lack of a free thread in the 60 s since the previous warning."
    )


def test_tasks_held_back_since_the_last_warning_are_logged_at_shutdown(pool, caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    clock = FakeClock()
    reporter = pool_statistics.StatisticsReporter("proc.test", -1, clock, full_warning_period=60)
    full = FullPool()
    for _ in range(3):
        reporter.before_submit(full, "my_task")
    clock.now += 5.0
    reporter.log_final_state(pool)
    assert warnings_of(caplog)[1:] == [
        "The proc.test pool queued 2 more tasks for lack of a free thread in the 5 s "
        "after its last warning."
    ]
    # Counted once: a second shutdown report has nothing held back.
    caplog.clear()
    reporter.log_final_state(pool)
    assert warnings_of(caplog) == []


def test_full_warning_period_zero_warns_on_every_queued_task(caplog):
    caplog.set_level(logging.WARNING, logger=LOGGER)
    reporter = pool_statistics.StatisticsReporter(
        "proc.test", -1, FakeClock(), full_warning_period=0
    )
    for _ in range(3):
        reporter.before_submit(FullPool(), "my_task")
    assert len(warnings_of(caplog)) == 3
    assert all("more tasks" not in m for m in warnings_of(caplog))


def test_full_warning_period_minus_one_never_warns(pool, caplog):
    caplog.set_level(logging.WARNING, logger=LOGGER)
    reporter = pool_statistics.StatisticsReporter("proc.test", -1, full_warning_period=-1)
    reporter.before_submit(FullPool(), "my_task")
    reporter.log_final_state(pool)
    assert warnings_of(caplog) == []


@pytest.mark.parametrize(
    ("value", "error"),
    [("60", TypeError), (True, TypeError), (None, TypeError), (-2, ValueError)],
)
def test_bad_full_warning_period_is_refused(value, error):
    with pytest.raises(error, match="full_warning_period"):
        pool_statistics.StatisticsReporter("proc.test", -1, full_warning_period=value)


def test_no_warning_while_the_pool_can_grow_or_has_idle_threads(pool, caplog):
    caplog.set_level(logging.WARNING, logger=LOGGER)
    reporter = pool_statistics.StatisticsReporter("proc.test", -1)
    reporter.before_submit(pool, "task")  # no thread yet, but room for two
    pool.submit(lambda: None).result(WAIT)
    reporter.before_submit(pool, "task")
    assert caplog.records == []


def test_final_state_is_logged_at_info(pool, caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    pool.submit(lambda: None).result(WAIT)
    reporter = pool_statistics.StatisticsReporter("proc.test", -1)
    # The thread marks itself idle just after setting the result.
    wait_until(lambda: pool.get_num_idle_workers() == 1)
    state = reporter.log_final_state(pool)
    assert state.workers == state.idle_workers == 1
    (record,) = caplog.records
    assert record.levelno == logging.INFO
    assert record.getMessage().startswith(
        "State of proc.test ThreadPoolExecutor at shutdown: max_workers: 2, workers: 1, "
        "idle workers: 1, queued work: 0, stats: executed=1"
    )


def test_pool_state_of_a_green_like_pool():
    class FakeGreenPool:
        def running(self):
            return 3

    class FakeQueue:
        def qsize(self):
            return 4

    class FakeGreenExecutor:
        _max_workers = 1000
        _pool = FakeGreenPool()
        _delayed_work = FakeQueue()
        statistics = futurist.ExecutorStatistics()

    state = pool_statistics.pool_state(FakeGreenExecutor())
    assert state[:4] == (1000, 3, 0, 4)


@pytest.mark.parametrize("period, error", [(-2, ValueError), ("10", TypeError)])
def test_bad_period(period, error):
    with pytest.raises(error, match="period"):
        pool_statistics.StatisticsReporter("x", period)
