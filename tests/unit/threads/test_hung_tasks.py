"""Stuck tasks are reported once, with their stack, and their end is told.

Real pools, groups, loops and periodic tasks run a task blocked on an Event;
the threshold is a fraction of a second.
"""

import logging
import math
import threading
import time

import futurist
from oslo_config import cfg
import pytest

from oslo_threading_backend import executors
from oslo_threading_backend import loopingcall
from oslo_threading_backend import periodic_task
from oslo_threading_backend import pool_statistics
from oslo_threading_backend import process_stats
from oslo_threading_backend import service
from oslo_threading_backend import threadgroup
from oslo_threading_backend._threads import hung_tasks
from oslo_threading_backend._threads import pool as thread_pool
from oslo_threading_backend._upstream import futurist_fixes
from oslo_threading_backend._upstream import futurist_hung_tasks
from tests.unit import forking
from tests.unit import polling

THRESHOLD = 0.2
LOGGER = "oslo_threading_backend._threads.hung_tasks"


@pytest.fixture(autouse=True)
def threshold():
    hung_tasks.set_threshold(THRESHOLD)
    yield THRESHOLD
    hung_tasks.set_threshold(hung_tasks.DEFAULT_THRESHOLD)


@pytest.fixture
def release():
    """The Event every blocked task waits on; set at the end of the test whatever happens."""
    event = threading.Event()
    yield event
    event.set()


@pytest.fixture
def log(caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    return caplog


class Worker:
    """A task whose name the lines must give as module.Class.method."""

    def __init__(self, release):
        self.release = release
        self.started = threading.Event()

    def block(self, *args):
        self.started.set()
        self.release.wait(polling.WAIT * 2)
        return "done"


def _records(caplog, level):
    return [r for r in caplog.records if r.name == LOGGER and r.levelno == level]


def _wait_for_warning(caplog):
    polling.wait_until(lambda: _records(caplog, logging.WARNING))
    return _records(caplog, logging.WARNING)


def _assert_reported_once_then_ended(
    caplog, release, where, thread_prefix, task=f"{__name__}.Worker.block"
):
    """One WARNING naming where, the task and the stack; no repeat; one INFO after release."""
    (warning,) = _wait_for_warning(caplog)
    text = warning.getMessage()
    assert text.startswith(f"Task {task} on {where} (thread {thread_prefix}"), text
    assert "0x" not in text.splitlines()[0]  # names, never addresses
    assert "longer than [DEFAULT] hung_task_threshold (0.2 s)" in text
    # The thread's current stack, down to the wait the task is blocked in.
    assert "in block\n    self.release.wait(polling.WAIT * 2)" in text
    assert "waiter.acquire(True, timeout)" in text.splitlines()[-1]
    elapsed = float(text.split(" has run for ")[1].split(" s,")[0])
    assert elapsed >= THRESHOLD
    # Several thresholds more: still the one WARNING (nothing is logged per check).
    threading.Event().wait(THRESHOLD * 4)
    assert len(_records(caplog, logging.WARNING)) == 1
    assert not _records(caplog, logging.INFO)
    release.set()
    polling.wait_until(lambda: _records(caplog, logging.INFO))
    (info,) = _records(caplog, logging.INFO)
    line = info.getMessage()
    assert line.startswith(f"Task {task} on {where} (thread {thread_prefix}"), line
    stuck_for = float(line.split(" was stuck for ")[1].split(" s;")[0])
    assert stuck_for >= THRESHOLD * 5
    assert line.endswith("it has ended")
    polling.wait_until(lambda: hung_tasks.stuck_count() == 0)


def test_named_executor_task(executors_conf, release, log):
    worker = Worker(release)
    future = executors.spawn_on("hung", worker.block)
    executor = executors.get_executor("hung")
    (warning,) = _wait_for_warning(log)
    assert pool_statistics.pool_state(executor).stuck == 1
    stats = process_stats.collect()
    assert stats.stuck_threads == 1
    line = process_stats.format_stats(stats)
    assert "stuck threads 1, " in line
    assert (
        f"{executor.name} (max_workers 10, workers 1, idle workers 0, queued 0, stuck 1)" in line
    )
    _assert_reported_once_then_ended(log, release, f"pool {executor.name}", f"{executor.name}-")
    assert future.result(polling.WAIT) == "done"
    assert pool_statistics.pool_state(executor).stuck == 0


def test_pool_statistics_line_counts_stuck_threads(release, log):
    pool = thread_pool.ThreadPoolExecutor(2, name="svc.stats")
    try:
        worker = Worker(release)
        pool.submit(worker.block)
        _wait_for_warning(log)
        log.set_level(logging.DEBUG, logger="oslo_threading_backend.pool_statistics")
        pool_statistics.log_state("svc.stats", pool, "now", logging.INFO)
        assert "queued work: 0, stats: executed=0, failures=0, cancelled=0" in log.text
        assert ", stuck threads: 1" in log.text
    finally:
        release.set()
        pool.shutdown()


@pytest.fixture
def futurist_watched():
    assert futurist_hung_tasks.apply()
    yield
    futurist_hung_tasks.remove()


def test_futurist_pool_through_the_fix_layer(release, log):
    conf = cfg.ConfigOpts()
    conf([])
    conf.register_opts(hung_tasks.hung_task_opts)
    conf.set_override("hung_task_threshold", THRESHOLD)
    try:
        assert futurist_fixes.apply_for(conf)
        assert futurist_hung_tasks.is_applied()
        assert hung_tasks.get_threshold() == THRESHOLD
        pool = futurist.ThreadPoolExecutor(max_workers=2)
        worker = Worker(release)
        future = pool.submit(worker.block)
        _wait_for_warning(log)
        assert pool_statistics.pool_state(pool).stuck == 1
        _assert_reported_once_then_ended(log, release, "futurist ThreadPoolExecutor", "Thread-")
        assert future.result(polling.WAIT) == "done"
        pool.shutdown()
    finally:
        futurist_hung_tasks.remove()
    assert not futurist_hung_tasks.is_applied()


def test_futurist_pool_without_the_fix_is_not_watched(release, log):
    pool = futurist.ThreadPoolExecutor(max_workers=1)
    worker = Worker(release)
    pool.submit(worker.block)
    worker.started.wait(polling.WAIT)
    threading.Event().wait(THRESHOLD * 3)
    assert not _records(log, logging.WARNING)
    release.set()
    pool.shutdown()


def test_thread_group_thread(release, log):
    group = threadgroup.ThreadGroup(name="grp")
    worker = Worker(release)
    thread = group.add_thread(worker.block)
    _assert_reported_once_then_ended(log, release, "thread group grp", "grp-")
    assert thread.wait(polling.WAIT) == "done"
    group.stop()


def test_looping_call_iteration(release, log):
    worker = Worker(release)
    runs = []

    def body():
        runs.append(1)
        if len(runs) == 1:
            worker.block()
        else:
            raise loopingcall.LoopingCallDone("ok")

    timer = loopingcall.FixedIntervalLoopingCall(body)
    done = timer.start(interval=0)
    _assert_reported_once_then_ended(
        log,
        release,
        "fixed interval looping call",
        "LoopingCall(",
        task=f"{__name__}.test_looping_call_iteration.<locals>.body",
    )
    assert done.wait(polling.WAIT) == "ok"
    assert runs == [1, 1]


class Manager(periodic_task.PeriodicTasks):
    release = None

    @periodic_task.periodic_task(spacing=3600, run_immediately=True)
    def block(self, context):
        self.release.wait(polling.WAIT * 2)


def test_periodic_task_in_a_looping_call_is_reported_once(release, log):
    """The periodic task runs inside a looping-call run: only the innermost is reported."""
    conf = cfg.ConfigOpts()
    conf([])
    manager = Manager(conf)
    manager.release = release
    timer = loopingcall.DynamicLoopingCall(manager.run_periodic_tasks, None)
    timer.start(periodic_interval_max=3600)
    try:
        (warning,) = _wait_for_warning(log)
        text = warning.getMessage()
        assert text.startswith(
            f"Task {__name__}.Manager.block on periodic tasks of Manager (thread LoopingCall("
        ), text
        assert "in block\n    self.release.wait(polling.WAIT * 2)" in text
        threading.Event().wait(THRESHOLD * 3)
        assert len(_records(log, logging.WARNING)) == 1
        assert hung_tasks.stuck_count() == 1
        release.set()
        polling.wait_until(lambda: _records(log, logging.INFO))
        (info,) = _records(log, logging.INFO)
        assert info.getMessage().startswith(f"Task {__name__}.Manager.block on periodic tasks")
    finally:
        timer.stop()
        timer.wait(polling.WAIT)
    assert len(_records(log, logging.WARNING)) == 1


def test_periodic_task_on_an_executor(executors_conf, release, log):
    conf = cfg.ConfigOpts()
    conf([])
    manager = Manager(conf)
    manager.release = release
    manager.run_periodic_tasks(None, executor="periodic_tasks")
    (warning,) = _wait_for_warning(log)
    assert warning.getMessage().startswith(f"Task {__name__}.Manager.block on periodic tasks")
    # The pool thread is stuck in it: the pool counts it.
    assert pool_statistics.pool_state(executors.get_executor("periodic_tasks")).stuck == 1
    release.set()
    assert manager.wait_for_periodic_tasks(polling.WAIT)
    polling.wait_until(lambda: _records(log, logging.INFO))
    assert len(_records(log, logging.WARNING)) == 1


def test_quick_tasks_are_not_reported(executors_conf, log):
    futures_ = [executors.spawn(lambda: None) for _ in range(100)]
    for future in futures_:
        future.result(polling.WAIT)
    threading.Event().wait(THRESHOLD * 2)
    assert not _records(log, logging.WARNING)


def test_zero_turns_it_off(release, log):
    hung_tasks.set_threshold(0)
    assert hung_tasks.begin("x", print) is None
    group = threadgroup.ThreadGroup(name="off")
    worker = Worker(release)
    group.add_thread(worker.block)
    worker.started.wait(polling.WAIT)
    threading.Event().wait(THRESHOLD * 3)
    assert not _records(log, logging.WARNING)
    release.set()
    group.wait()


def test_watcher_exits_when_nothing_runs_and_comes_back(release, log):
    hung_tasks.end(hung_tasks.begin("x", print))
    polling.wait_until(lambda: not _watcher_threads())
    group = threadgroup.ThreadGroup(name="again")
    worker = Worker(release)
    group.add_thread(worker.block)
    _wait_for_warning(log)
    assert len(_watcher_threads()) == 1
    release.set()
    group.wait()


def _watcher_threads():
    return [t for t in threading.enumerate() if t.name == hung_tasks.WATCHER_NAME]


def test_forked_child_has_its_own_watcher(release, log):
    group = threadgroup.ThreadGroup(name="parent")
    worker = Worker(release)
    group.add_thread(worker.block)
    worker.started.wait(polling.WAIT)
    assert _watcher_threads()

    def child():
        # The parent's watcher and its blocked thread are not here.
        assert not _watcher_threads()
        assert hung_tasks.stuck_count() == 0
        records = []
        handler = logging.Handler()
        handler.emit = records.append
        logging.getLogger(LOGGER).addHandler(handler)
        child_release = threading.Event()
        child_worker = Worker(child_release)
        thread = threading.Thread(target=lambda: hung_tasks_run(child_worker))
        thread.start()
        polling.wait_until(lambda: records)
        child_release.set()
        thread.join(polling.WAIT)
        polling.wait_until(lambda: len(records) == 2)
        return "|".join(f"{r.levelname} {r.getMessage().splitlines()[0]}" for r in records)

    report = forking.run_in_child(child)
    assert report.startswith(f"WARNING Task {__name__}.Worker.block on child (thread "), report
    assert "|INFO " in report and report.endswith("it has ended"), report
    release.set()
    group.wait()


def hung_tasks_run(worker):
    with hung_tasks.watching("child", worker.block):
        worker.block()


@pytest.mark.parametrize(
    ("value", "error"),
    [
        (-1, ValueError),
        (-0.5, ValueError),
        (math.nan, ValueError),
        (math.inf, ValueError),
        ("600", TypeError),
        (None, TypeError),
        (True, TypeError),
    ],
)
def test_bad_threshold_is_refused(value, error):
    with pytest.raises(error, match=r"^\[DEFAULT\] hung_task_threshold must be a number"):
        hung_tasks.set_threshold(value)
    assert hung_tasks.get_threshold() == THRESHOLD


@pytest.mark.parametrize("text", ["-1", "ten", "nan", "inf"])
def test_bad_threshold_in_the_config_file_is_refused_by_the_launcher(tmp_path, text):
    path = tmp_path / "bad.conf"
    path.write_text(f"[DEFAULT]\nhung_task_threshold = {text}\n")
    conf = cfg.ConfigOpts()
    conf(["--config-file", str(path)])
    with pytest.raises(ValueError) as caught:
        service.ServiceLauncher(conf)
    message = str(caught.value)
    assert "[DEFAULT] hung_task_threshold = " in message
    assert " is not valid: " in message and "; allowed: a number" in message
    assert "\n" not in message
    assert hung_tasks.get_threshold() == THRESHOLD


def test_launcher_takes_the_threshold_from_conf(tmp_path):
    path = tmp_path / "ok.conf"
    path.write_text("[DEFAULT]\nhung_task_threshold = 0.5\n")
    conf = cfg.ConfigOpts()
    conf(["--config-file", str(path)])
    hung_tasks.configure(conf)
    assert hung_tasks.get_threshold() == 0.5


def test_default_is_ten_minutes():
    conf = cfg.ConfigOpts()
    conf([])
    hung_tasks.register_opts(conf)
    assert conf.hung_task_threshold == 600


def test_a_group_thread_that_runs_until_stopped_is_not_a_task(release, log):
    worker = Worker(release)
    serve = threadgroup.runs_until_stopped(lambda: worker.block())
    group = threadgroup.ThreadGroup(name="server")
    group.add_thread(serve)
    worker.started.wait(polling.WAIT)
    threading.Event().wait(THRESHOLD * 3)
    assert not _records(log, logging.WARNING)
    assert hung_tasks.stuck_count() == 0
    release.set()
    group.wait()


def test_the_launchers_service_thread_is_not_a_task():
    """Services runs each service for its whole life on a group thread."""
    from oslo_threading_backend._processes import service_base

    assert hung_tasks.begin_thread("g", service_base.Services.run_service) is None


def test_the_fix_layer_names_it_in_the_summary_and_leaves_futurist_alone_when_off():
    from oslo_threading_backend._upstream import applied_fixes

    conf = cfg.ConfigOpts()
    conf([])
    futurist_fixes.register_opts(conf)
    hung_tasks.register_opts(conf)
    conf.set_override("hung_task_threshold", 0)
    futurist_fixes.apply_for(conf)
    assert not futurist_hung_tasks.is_applied()
    assert futurist_hung_tasks.NAME not in applied_fixes.names()
    conf.set_override("hung_task_threshold", 0.3)
    futurist_fixes.apply_for(conf)
    assert futurist_hung_tasks.is_applied()
    assert "futurist stuck-task reports ([DEFAULT] hung_task_threshold)" in (
        applied_fixes.summary()
    )
    futurist_hung_tasks.remove()
    assert futurist_hung_tasks.NAME not in applied_fixes.names()


def test_a_pool_thread_reuses_its_task_and_each_run_is_judged_alone(release, log):
    """One pool thread, three runs on one reused Task: quick, stuck, quick.

    The stuck run is reported and its end told under its own name; neither
    quick run around it is reported, nor told as ended.
    """
    pool = thread_pool.ThreadPoolExecutor(1, name="reuse")
    try:
        assert pool.submit(math.sqrt, 4.0).result(polling.WAIT) == 2.0
        worker = Worker(release)
        stuck = pool.submit(worker.block)
        _assert_reported_once_then_ended(log, release, "pool reuse", "reuse-1")
        assert stuck.result(polling.WAIT) == "done"
        assert pool.submit(math.sqrt, 9.0).result(polling.WAIT) == 3.0
        threading.Event().wait(THRESHOLD * 3)
        assert len(_records(log, logging.WARNING)) == 1
        assert len(_records(log, logging.INFO)) == 1
        assert pool.num_workers == 1  # all three ran on the one thread
    finally:
        pool.shutdown()


def run_a():
    pass


def run_b():
    pass


def test_a_run_that_ended_before_its_report_is_not_reported_as_the_next(log):
    """The watcher judged run A overdue; the thread has since ended it and begun B."""
    # Starts in the future, so that the real watcher finds neither overdue.
    a_started = time.monotonic() + 1000
    b_started = a_started + 1000
    task = hung_tasks.begin("a loop", run_a, started=a_started)
    hung_tasks.end(task)
    again = hung_tasks.begin("a loop", run_b, started=b_started, reuse=task)
    try:
        assert again is task
        hung_tasks._report(task, a_started, now=a_started + THRESHOLD * 2)
        assert not _records(log, logging.WARNING)
        assert not task.reported
        # B's own report names B; its end is told once.
        hung_tasks._report(task, b_started, now=b_started + THRESHOLD * 2)
        (warning,) = _records(log, logging.WARNING)
        assert warning.getMessage().startswith(f"Task {__name__}.run_b on a loop"), warning
        assert task.reported
    finally:
        hung_tasks.end(task)
    (info,) = _records(log, logging.INFO)
    assert info.getMessage().startswith(f"Task {__name__}.run_b on a loop")
    # The next run on the same Task starts with no flag set.
    reused = hung_tasks.begin("a loop", run_a, reuse=task)
    assert not (reused.reported or reused.covered or reused.told)
    hung_tasks.end(reused)
