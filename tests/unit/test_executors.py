import enum
import logging
import os
import sys
import threading
import time
import types

import futurist
from oslo_config import cfg
from oslo_context import context as oslo_context
import pytest

import oslo_threading_backend
from oslo_threading_backend import executors
from oslo_threading_backend._threads import pool as _thread_pool
from tests.unit.forking import run_in_child
from tests.unit.polling import wait_until

WAIT = 5.0


@pytest.fixture(autouse=True)
def conf(executors_conf):
    return executors_conf


@pytest.fixture(autouse=True)
def no_request_context():
    oslo_context._request_store.context = None
    yield
    oslo_context._request_store.context = None


def process_name():
    return os.path.basename(sys.argv[0])


def test_get_executor_creates_one_executor_per_name():
    default = executors.get_executor()
    assert executors.get_executor("default") is default
    assert executors.get_executor("other") is not default
    assert isinstance(default, _thread_pool.ThreadPoolExecutor)


def test_concurrent_first_use_creates_a_single_executor():
    barrier = threading.Barrier(8)
    seen = []

    def get():
        barrier.wait(WAIT)
        seen.append(executors.get_executor("racy"))

    threads = [threading.Thread(target=get) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT)
    assert len(seen) == 8 and all(ex is seen[0] for ex in seen)


def test_pool_sizes_come_from_options(conf):
    assert executors.get_executor("default").max_workers == 10
    assert executors.get_executor("scatter_gather").max_workers == 5
    assert executors.get_executor("anything").max_workers == 10


def test_pool_size_overrides(conf):
    conf.set_override("default_thread_pool_size", 3)
    conf.set_override("scatter_gather_thread_pool_size", 2)
    conf.set_override("thread_pool_sizes", {"periodic_tasks": "4"})
    conf.set_override("thread_pool_idle_timeout", 7.5)
    assert executors.get_executor("default").max_workers == 3
    assert executors.get_executor("scatter_gather").max_workers == 2
    assert executors.get_executor("periodic_tasks").max_workers == 4
    assert executors.get_executor("periodic_tasks").idle_timeout == 7.5
    assert executors.get_executor("other").max_workers == 3


@pytest.mark.parametrize("size", ["zero", "0", "-3"])
def test_bad_per_name_pool_size_is_a_clear_error(conf, size):
    conf.set_override("thread_pool_sizes", {"bad": size})
    with pytest.raises(ValueError, match=r"thread_pool_sizes\[bad\]"):
        executors.get_executor("bad")


@pytest.mark.parametrize(
    "option, value", [("default_thread_pool_size", 0), ("thread_pool_idle_timeout", -1)]
)
def test_options_reject_bad_values(conf, option, value):
    with pytest.raises(ValueError):
        conf.set_override(option, value)


def test_threads_are_named_after_process_and_executor():
    name = executors.spawn_on("cells", lambda: threading.current_thread().name).result(WAIT)
    assert name == f"{process_name()}.cells-1"


def test_spawn_runs_on_the_default_executor():
    name = executors.spawn(lambda: threading.current_thread().name).result(WAIT)
    assert name == f"{process_name()}.default-1"


def test_spawn_on_passes_arguments():
    assert executors.spawn_on("x", lambda a, b=0: a + b, 1, b=2).result(WAIT) == 3


def test_spawn_on_accepts_an_executor_object():
    pool = _thread_pool.ThreadPoolExecutor(1, name="mine")
    try:
        assert executors.spawn_on(pool, lambda: 5).result(WAIT) == 5
    finally:
        pool.shutdown()


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: executors.spawn_on("x", 42), TypeError, "fn must be callable"),
        (lambda: executors.spawn(None), TypeError, "fn must be callable"),
        (lambda: executors.spawn_on(3, print), TypeError, "executor must be"),
        (lambda: executors.get_executor(""), TypeError, "executor name"),
        (lambda: executors.get_executor(None), TypeError, "executor name"),
        (lambda: executors.shutdown_all(timeout=-1), ValueError, "timeout"),
        (lambda: executors.shutdown_all(timeout="1"), TypeError, "timeout"),
        (lambda: executors.set_conf({}), TypeError, "conf"),
    ],
)
def test_bad_input_is_a_clear_error(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_use_after_shutdown_all_is_a_runtime_error():
    executors.spawn(lambda: None).result(WAIT)
    assert executors.shutdown_all() is True
    with pytest.raises(RuntimeError, match="shutdown_all"):
        executors.spawn_on("default", lambda: None)
    with pytest.raises(RuntimeError, match="shutdown_all"):
        executors.get_executor("never_created")
    executors.reset_all()
    assert executors.spawn(lambda: "again").result(WAIT) == "again"


def test_shutdown_all_stops_the_threads_and_logs_final_state(caplog):
    caplog.set_level(logging.INFO)
    pool = executors.get_executor("default")
    executors.spawn(lambda: None).result(WAIT)
    wait_until(lambda: pool.get_num_idle_workers() == 1)
    assert executors.shutdown_all(timeout=WAIT) is True
    assert pool.num_workers == 0 and not pool.alive
    messages = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert any(
        m.startswith(
            f"State of {process_name()}.default ThreadPoolExecutor at shutdown: "
            "max_workers: 10, workers: 1, idle workers: 1, queued work: 0"
        )
        for m in messages
    ), messages


def test_shutdown_all_returns_false_while_a_task_is_stuck(caplog):
    release = threading.Event()
    started = threading.Event()
    fut = executors.spawn(lambda: (started.set(), release.wait(WAIT)))
    assert started.wait(WAIT)
    try:
        assert executors.shutdown_all(timeout=0.01) is False
        assert "still has running threads" in caplog.text
    finally:
        release.set()
    fut.result(WAIT)


def test_reset_all_waits_for_work_and_drops_executors():
    pool = executors.get_executor("default")
    release = threading.Event()
    fut = executors.spawn(release.wait, WAIT)
    threading.Timer(0.01, release.set).start()
    executors.reset_all()
    assert fut.done() and not pool.alive
    assert executors.get_executor("default") is not pool


def test_statistics_logged_on_submit_when_enabled(conf, caplog):
    conf.set_override("thread_pool_statistic_period", 0)
    caplog.set_level(logging.DEBUG)
    executors.spawn(lambda: None).result(WAIT)
    assert (
        f"State of {process_name()}.default ThreadPoolExecutor when submitting a new "
        "task: max_workers: 10, workers: 0, idle workers: 0, queued work: 0" in caplog.text
    )


def test_warning_when_work_is_queued_behind_busy_threads(conf, caplog):
    conf.set_override("thread_pool_sizes", {"tiny": "1"})
    release = threading.Event()
    started = threading.Event()

    def busy():
        started.set()
        release.wait(WAIT)

    first = executors.spawn_on("tiny", busy)
    try:
        assert started.wait(WAIT)
        queued = executors.spawn_on("tiny", time.monotonic)
    finally:
        release.set()
    first.result(WAIT)
    queued.result(WAIT)
    assert (
        f"The {process_name()}.tiny pool does not have free threads so the task "
        "monotonic will be queued." in caplog.text
    )


def test_request_context_is_restored_in_the_pool_thread(conf):
    conf.set_override("thread_pool_sizes", {"one": "1"})
    ctx = oslo_context.RequestContext()
    ctx.update_store()
    seen = executors.spawn_on("one", oslo_context.get_current).result(WAIT)
    assert seen is ctx
    assert seen.request_id == ctx.request_id
    # The pool thread does not keep it for the next task submitted without one.
    oslo_context._request_store.context = None
    assert executors.spawn_on("one", oslo_context.get_current).result(WAIT) is None


def test_request_context_in_log_records_from_pool_threads(conf, caplog):
    ctx = oslo_context.RequestContext(request_id="req-12345")
    ctx.update_store()
    log = logging.getLogger("test_executors.worker")
    caplog.set_level(logging.INFO, logger=log.name)

    def task():
        log.info("working for %s", oslo_context.get_current().request_id)

    executors.spawn(task).result(WAIT)
    assert "working for req-12345" in caplog.text


def fake_backend(monkeypatch, backend_type):
    class BackendType(enum.Enum):
        EVENTLET = "eventlet"
        THREADING = "threading"

    module = types.ModuleType("oslo_threading_backend.backend")
    module.BackendType = BackendType
    module.get_backend_type = lambda: None if backend_type is None else BackendType[backend_type]
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setattr(oslo_threading_backend, "backend", module, raising=False)


@pytest.mark.parametrize("backend_type", [None, "THREADING"])
def test_threading_backend_gets_native_thread_pools(monkeypatch, backend_type):
    fake_backend(monkeypatch, backend_type)
    assert isinstance(executors.get_executor("x"), _thread_pool.ThreadPoolExecutor)


def test_eventlet_backend_gets_green_pools(monkeypatch):
    created = []

    class FakeGreenPool(futurist.SynchronousExecutor):
        def __init__(self, max_workers):
            super().__init__()
            created.append(max_workers)

    fake_backend(monkeypatch, "EVENTLET")
    monkeypatch.setattr(futurist, "GreenThreadPoolExecutor", FakeGreenPool)
    pool = executors.get_executor("scatter_gather")
    assert isinstance(pool, FakeGreenPool) and created == [5]
    assert executors.spawn_on("scatter_gather", lambda: 7).result(WAIT) == 7


def test_list_opts():
    ((group, opts),) = executors.list_opts()
    assert group is None
    assert {o.name for o in opts} == {
        "default_thread_pool_size",
        "scatter_gather_thread_pool_size",
        "thread_pool_sizes",
        "thread_pool_idle_timeout",
        "thread_pool_statistic_period",
        "thread_pool_full_warning_period",
    }
    defaults = {o.name: o.default for o in opts}
    assert defaults["default_thread_pool_size"] == 10
    assert defaults["scatter_gather_thread_pool_size"] == 5
    assert defaults["thread_pool_statistic_period"] == -1
    assert defaults["thread_pool_full_warning_period"] == 60


def test_cfg_conf_is_used_by_default(monkeypatch):
    monkeypatch.setattr(executors, "_conf", None)
    executors.get_executor("x")
    assert executors._conf is cfg.CONF
    assert cfg.CONF.default_thread_pool_size == 10


def test_forked_child_gets_fresh_executors():
    parent_pool = executors.get_executor("default")
    release = threading.Event()
    started = threading.Event()
    # A parent thread is busy at fork time: its thread does not exist in the child.
    busy = executors.spawn(lambda: (started.set(), release.wait(WAIT)))
    assert started.wait(WAIT)
    try:

        def child():
            pool = executors.get_executor("default")
            name = executors.spawn(lambda: threading.current_thread().name).result(WAIT)
            return f"{pool is not parent_pool} {name}"

        report = run_in_child(child)
    finally:
        release.set()
    busy.result(WAIT)
    assert report == f"True {process_name()}.default-1"


def test_forked_child_of_a_shut_down_process_can_use_executors():
    executors.shutdown_all()

    def child():
        return str(executors.spawn(lambda: 6 * 7).result(WAIT))

    assert run_in_child(child) == "42"
    with pytest.raises(RuntimeError):
        executors.spawn(lambda: None)


def test_shutdown_all_waits_for_pools_without_join(monkeypatch):
    calls = []

    class FakeGreenPool(futurist.SynchronousExecutor):
        def __init__(self, max_workers):
            super().__init__()

        def shutdown(self, wait=True, *, cancel_futures=False):
            calls.append(wait)
            super().shutdown(wait)

    fake_backend(monkeypatch, "EVENTLET")
    monkeypatch.setattr(futurist, "GreenThreadPoolExecutor", FakeGreenPool)
    executors.get_executor("green")
    assert executors.shutdown_all() is True
    # A single call, that waits: futurist's green pool waits only in the first call.
    assert calls == [True]


def _stopping_in_parallel(stop_all):
    """Whether pool "b" was told to stop while pool "a" still waited for its task."""
    first = executors.get_executor("a")
    second = executors.get_executor("b")
    started = threading.Event()
    seen = []

    def wait_for_second_pool_to_stop():
        started.set()
        # Bounded: stopped one after another, "b" is stopped only after this returns.
        seen.append(wait_until_true(lambda: second._shutdown, WAIT / 2))

    fut = first.submit(wait_for_second_pool_to_stop)
    assert started.wait(WAIT)
    stop_all()
    fut.result(WAIT)
    return seen == [True]


def wait_until_true(predicate, timeout):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def test_shutdown_all_stops_every_pool_before_waiting_for_any():
    assert _stopping_in_parallel(lambda: executors.shutdown_all(timeout=WAIT))


def test_reset_all_stops_every_pool_before_waiting_for_any():
    assert _stopping_in_parallel(executors.reset_all)
