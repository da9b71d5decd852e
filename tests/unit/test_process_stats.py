import dataclasses
import logging
import os
import sys
import threading
import time

from oslo_config import cfg
import pytest

from oslo_threading_backend import executors
from oslo_threading_backend import pool_statistics
from oslo_threading_backend import process_stats

WAIT = 5.0
LINUX = sys.platform.startswith("linux")


class LineCatcher(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records = []
        self.count = threading.Semaphore(0)

    def emit(self, record):
        if record.getMessage().startswith("Process statistics of pid"):
            self.records.append(record)
            self.count.release()


@pytest.fixture
def catcher():
    logger = logging.getLogger(process_stats.__name__)
    handler = LineCatcher()
    logger.addHandler(handler)
    old_level = logger.level
    logger.setLevel(logging.DEBUG)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(old_level)


@pytest.fixture
def conf():
    conf = cfg.ConfigOpts()
    process_stats.register_opts(conf)
    conf([], project="test")
    return conf


@pytest.fixture
def clean_executors():
    executors.reset_all()
    yield
    executors.reset_all()


def test_list_opts():
    [(group, opts)] = process_stats.list_opts()
    assert group is None
    assert [(o.name, o.default) for o in opts] == [("process_statistic_period", 60.0)]


@pytest.mark.skipif(not LINUX, reason="reads /proc")
def test_collect_reads_memory_and_threads(clean_executors):
    stats = process_stats.collect()
    assert stats.pid == os.getpid()
    assert stats.rss_bytes > 1024 * 1024
    assert stats.peak_rss_bytes >= stats.rss_bytes
    assert stats.python_threads >= 1
    assert stats.os_threads >= stats.python_threads
    assert stats.executors == ()


def test_stats_are_immutable():
    stats = process_stats.collect()
    with pytest.raises(AttributeError):
        stats.rss_bytes = 0
    assert not dataclasses.is_dataclass(stats) and isinstance(stats, tuple)


def test_collect_counts_a_new_thread():
    # Threads of other tests (idle pool threads) may end meanwhile: a few attempts.
    for _ in range(5):
        release = threading.Event()
        before = process_stats.collect()
        thread = threading.Thread(target=release.wait, args=(WAIT,), name="extra")
        thread.start()
        try:
            during = process_stats.collect()
        finally:
            release.set()
            thread.join(WAIT)
        python_delta = during.python_threads - before.python_threads
        os_delta = None if during.os_threads is None else during.os_threads - before.os_threads
        if python_delta == 1 and os_delta in (None, 1):
            break
    assert python_delta == 1
    if LINUX:
        assert os_delta == 1


def test_collect_lists_named_executors(clean_executors):
    release = threading.Event()
    running = threading.Event()

    def busy():
        running.set()
        release.wait(WAIT)

    future = executors.spawn_on("stats_test", busy)
    try:
        assert running.wait(WAIT)
        stats = process_stats.collect()
    finally:
        release.set()
        future.result(WAIT)
    [pool] = [e for e in stats.executors if e.name.endswith(".stats_test")]
    assert pool.max_workers == 10  # default_thread_pool_size
    assert (pool.workers, pool.idle_workers, pool.queued) == (1, 0, 0)


def test_an_executor_that_cannot_be_read_is_left_out(clean_executors, monkeypatch):
    executors.get_executor("stats_test")

    def broken(executor):
        raise RuntimeError("no counters")

    monkeypatch.setattr(pool_statistics, "pool_state", broken)
    assert process_stats.collect().executors == ()


def test_without_proc_values_are_none(monkeypatch):
    monkeypatch.setattr(process_stats, "_read_proc_status", lambda: {})
    stats = process_stats.collect()
    assert stats.rss_bytes is None and stats.os_threads is None
    if LINUX:  # getrusage() still knows the peak
        assert stats.peak_rss_bytes > 0
    assert "RSS n/a" in process_stats.format_stats(stats)
    assert "OS threads n/a" in process_stats.format_stats(stats)


def test_read_proc_status_parses_and_tolerates_missing_file(tmp_path):
    status = tmp_path / "status"
    status.write_text("Name:\tpython\nVmHWM:\t   2048 kB\nVmRSS:\t 1024 kB\nThreads:\t7\nOdd\n")
    fields = process_stats._read_proc_status(str(status))
    assert process_stats._kib_field(fields, "VmRSS") == 1024 * 1024
    assert process_stats._kib_field(fields, "VmHWM") == 2048 * 1024
    assert process_stats._int_field(fields, "Threads") == 7
    assert process_stats._kib_field(fields, "Name") is None
    assert process_stats._read_proc_status(str(tmp_path / "missing")) == {}


def test_format_stats():
    stats = process_stats.ProcessStats(
        pid=42,
        rss_bytes=3 * 1024 * 1024,
        peak_rss_bytes=None,
        python_threads=5,
        os_threads=6,
        executors=(process_stats.ExecutorStats("svc.default", 10, 3, 1, 2, 1),),
        stuck_threads=2,
    )
    assert process_stats.format_stats(stats) == (
        "Process statistics of pid 42: RSS 3.0 MiB, peak RSS n/a, threads 5 "
        "(OS threads 6), stuck threads 2, executors: svc.default (max_workers 10, "
        "workers 3, idle workers 1, queued 2, stuck 1)"
    )
    assert process_stats.format_stats(stats._replace(executors=())).endswith("executors: none")
    with pytest.raises(TypeError, match="ProcessStats"):
        process_stats.format_stats((42,))


def test_start_disabled(conf):
    conf.set_override("process_statistic_period", -1)
    assert process_stats.start(conf) is None


@pytest.mark.parametrize("period", [0, -0.5])
def test_start_rejects_periods_that_are_neither_off_nor_positive(conf, period):
    conf.set_override("process_statistic_period", period)
    with pytest.raises(
        ValueError, match="process_statistic_period must be -1 .off. or a positive"
    ):
        process_stats.start(conf)


def test_start_needs_a_conf():
    with pytest.raises(TypeError, match="ConfigOpts"):
        process_stats.start({"process_statistic_period": 1})


@pytest.mark.parametrize(
    "period, error", [("1", TypeError), (True, TypeError), (0, ValueError), (-1, ValueError)]
)
def test_reporter_rejects_bad_periods(period, error):
    with pytest.raises(error, match="process_statistic_period"):
        process_stats.Reporter(period)


def test_reporter_logs_every_period_until_stopped(conf, catcher):
    conf.set_override("process_statistic_period", 0.02)
    reporter = process_stats.start(conf)
    try:
        for _ in range(3):
            assert catcher.count.acquire(timeout=WAIT)
    finally:
        assert reporter.stop(WAIT) is True
    assert not reporter.is_alive()
    assert all(
        r.levelno == logging.INFO and r.threadName == "process-stats" for r in catcher.records
    )
    assert f"pid {os.getpid()}" in catcher.records[0].getMessage()


def test_stop_is_immediate_with_a_long_period(conf, catcher):
    reporter = process_stats.start(conf)  # the default: 60 s
    assert reporter.period == 60.0
    started = time.monotonic()
    assert reporter.stop(WAIT) is True
    assert time.monotonic() - started < 1.0
    assert reporter.stop() is True
    assert catcher.records == []


def test_a_failing_collection_is_logged_and_the_reporter_goes_on(monkeypatch, catcher, caplog):
    calls = threading.Semaphore(0)
    real_collect = process_stats.collect
    failures = [True]

    def flaky():
        calls.release()
        if failures:
            failures.pop()
            raise RuntimeError("collect broke")
        return real_collect()

    monkeypatch.setattr(process_stats, "collect", flaky)
    reporter = process_stats.Reporter(0.02)
    reporter.start()
    try:
        assert catcher.count.acquire(timeout=WAIT)
    finally:
        reporter.stop(WAIT)
    assert any(r.exc_info and "collect broke" in str(r.exc_info[1]) for r in caplog.records)
