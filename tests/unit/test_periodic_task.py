import copy
import logging
import pickle
import threading
from unittest import mock

from oslo_config import cfg
import pytest

from oslo_threading_backend import periodic_task
from oslo_threading_backend._threads.pool import ThreadPoolExecutor

WAIT = 5.0


class Clock:
    """Replaces periodic_task.now so schedules are exact."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(periodic_task, "now", clock)
    return clock


@pytest.fixture
def conf():
    return cfg.ConfigOpts()


@pytest.fixture(autouse=True)
def fresh_executors(executors_conf):
    return executors_conf


@pytest.fixture
def no_jitter(monkeypatch):
    monkeypatch.setattr(periodic_task.random, "random", lambda: 0.0)


class Manager(periodic_task.PeriodicTasks):
    def __init__(self, conf):
        super().__init__(conf)
        self.calls = []

    @periodic_task.periodic_task
    def every_default(self, context):
        self.calls.append(("every_default", context))

    @periodic_task.periodic_task(spacing=10, run_immediately=True)
    def every_ten(self, context):
        self.calls.append(("every_ten", context))

    @periodic_task.periodic_task(spacing=-1)
    def negative(self, context):
        self.calls.append(("negative", context))

    @periodic_task.periodic_task(spacing=5, enabled=False)
    def disabled(self, context):
        self.calls.append(("disabled", context))

    @periodic_task.periodic_task(spacing=30, name="renamed", external_process_ok=True)
    def external(self, context):
        self.calls.append(("renamed", context))


def names(manager):
    return [name for name, _ in manager.calls]


def test_conf_may_be_any_object_with_register_opts(clock, conf):
    # oslo.service accepts mocks and ConfigOpts wrappers; consumers' tests pass them.
    mocked = mock.Mock()
    manager = Manager(mocked)
    mocked.register_opts.assert_called_once_with(periodic_task.periodic_opts)
    manager.run_periodic_tasks("ctx")
    assert names(manager) == ["every_ten"]  # the task that runs at once

    class Wrapper:
        def __init__(self, wrapped):
            self._wrapped = wrapped

        def __getattr__(self, name):
            return getattr(self._wrapped, name)

    wrapped = Wrapper(conf)
    assert Manager(wrapped).conf is wrapped
    assert conf.run_external_periodic_tasks is True  # registered through the wrapper


@pytest.mark.parametrize("bad", [None, {}, object(), mock.Mock(register_opts=1)])
def test_conf_without_register_opts_is_a_clear_type_error(bad):
    with pytest.raises(TypeError, match=r"conf must be an oslo_config.cfg.ConfigOpts or an "):
        Manager(bad)


def test_collects_enabled_tasks_with_their_spacing(clock):
    assert dict(Manager._periodic_tasks).keys() == {"every_default", "every_ten", "renamed"}
    assert Manager._periodic_spacing == {
        "every_default": periodic_task.DEFAULT_INTERVAL,
        "every_ten": 10,
        "renamed": 30,
    }


def test_schedule_and_idle_time(clock, conf, no_jitter):
    manager = Manager(conf)
    # Only the run_immediately task runs at once; the others wait one spacing.
    assert manager.run_periodic_tasks("ctx") == 10
    assert manager.calls == [("every_ten", "ctx")]
    clock.now += 4
    assert manager.run_periodic_tasks("ctx") == 6
    clock.now += 6
    manager.run_periodic_tasks("ctx")
    assert names(manager) == ["every_ten", "every_ten"]
    clock.now += 20
    manager.run_periodic_tasks("ctx")
    assert names(manager) == ["every_ten", "every_ten", "every_ten", "renamed"]
    clock.now += 30
    manager.run_periodic_tasks("ctx")
    assert names(manager)[-3:] == ["every_default", "every_ten", "renamed"]


def test_first_interval_starts_when_the_manager_is_created(clock, conf):
    # oslo.service starts it when the class is defined (at import).
    clock.now += 10_000
    manager = Manager(conf)
    manager.run_periodic_tasks(None)
    assert names(manager) == ["every_ten"]


def test_external_tasks_skipped_when_not_run_here(clock, conf):
    conf.register_opts(periodic_task.periodic_opts)
    conf.set_override("run_external_periodic_tasks", False)
    manager = Manager(conf)
    clock.now += 100
    manager.run_periodic_tasks(None)
    assert "renamed" not in names(manager)


def test_subclass_extends_and_parent_is_unchanged(clock, conf):
    class Child(Manager):
        @periodic_task.periodic_task(spacing=1)
        def child_task(self, context):
            self.calls.append(("child_task", context))

    assert "child_task" in dict(Child._periodic_tasks)
    assert "child_task" not in dict(Manager._periodic_tasks)


def test_add_periodic_task_affects_this_manager_only(clock, conf):
    @periodic_task.periodic_task(spacing=1, run_immediately=True)
    def added(self, context):
        self.calls.append(("added", context))

    one, other = Manager(conf), Manager(conf)
    one.add_periodic_task(added)
    one.run_periodic_tasks(None)
    other.run_periodic_tasks(None)
    assert "added" in names(one)
    assert "added" not in names(other)
    assert "added" not in dict(Manager._periodic_tasks)


def test_errors_are_logged_or_raised(clock, conf, caplog):
    class Failing(periodic_task.PeriodicTasks):
        @periodic_task.periodic_task(spacing=1, run_immediately=True)
        def fails(self, context):
            raise ValueError("task failed")

    manager = Failing(conf)
    manager.run_periodic_tasks(None)
    assert "Error during Failing.fails" in caplog.text
    clock.now += 2
    with pytest.raises(ValueError, match="task failed"):
        manager.run_periodic_tasks(None, raise_on_error=True)


def test_decorator_forms(clock):
    @periodic_task.periodic_task()
    def empty_parens(self, context):
        pass

    assert empty_parens._periodic_task and empty_parens._periodic_spacing == 0
    assert empty_parens._periodic_name == "empty_parens"


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"ticks_between_runs": 3}, periodic_task.InvalidPeriodicTaskArg, "ticks_between"),
        ({"spacnig": 3}, periodic_task.InvalidPeriodicTaskArg, "spacnig"),
        ({"spacing": "10"}, TypeError, "spacing"),
        ({"spacing": None}, TypeError, "spacing"),
        ({"spacing": float("nan")}, ValueError, "spacing"),
        ({"name": 3}, TypeError, "name"),
    ],
)
def test_bad_decorator_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        periodic_task.periodic_task(**kwargs)


def test_invalid_arg_is_a_type_error():
    assert issubclass(periodic_task.InvalidPeriodicTaskArg, TypeError)
    with pytest.raises(TypeError, match="callable"):
        periodic_task.periodic_task(spacing=1)(42)


def test_list_opts():
    ((group, opts),) = periodic_task.list_opts()
    assert group is None
    assert [o.name for o in opts] == ["run_external_periodic_tasks"]


class Slow(periodic_task.PeriodicTasks):
    """One slow task and one fast one, each counting its runs on the manager."""

    def __init__(self, conf):
        super().__init__(conf)
        self.release = threading.Event()
        self.slow_started = threading.Event()
        self.fast_done = threading.Event()
        self.slow_runs = 0
        self.fast_runs = 0

    @periodic_task.periodic_task(spacing=1, run_immediately=True)
    def slow(self, context):
        self.slow_runs += 1
        self.slow_started.set()
        assert self.release.wait(WAIT)

    @periodic_task.periodic_task(spacing=1, run_immediately=True)
    def fast(self, context):
        self.fast_runs += 1
        self.fast_done.set()


@pytest.mark.parametrize("use_name", [True, False])
def test_executor_slow_task_does_not_delay_others_nor_runs_twice(clock, conf, use_name):
    pool = None if use_name else ThreadPoolExecutor(2, name="mine")
    executor = "periodic_tasks" if use_name else pool
    manager = Slow(conf)
    try:
        assert manager.run_periodic_tasks(None, executor=executor) == 1
        assert manager.slow_started.wait(WAIT)
        # fast finished while slow still runs.
        manager._periodic_running.futures["fast"].result(WAIT)
        assert not manager._periodic_running.futures["slow"].done()
        manager.fast_done.clear()
        clock.now += 2
        manager.run_periodic_tasks(None, executor=executor)
        assert manager.fast_done.wait(WAIT)
        manager.release.set()
        assert manager.wait_for_periodic_tasks(WAIT)
        # State changed by the tasks is on the manager itself (nothing was pickled),
        # and the slow task was not started again while it ran.
        assert manager.slow_runs == 1
        assert manager.fast_runs == 2
        clock.now += 2
        manager.run_periodic_tasks(None, executor=executor)
        assert manager.wait_for_periodic_tasks(WAIT)
        assert manager.slow_runs == 2
    finally:
        manager.release.set()
        if pool is not None:
            pool.shutdown()


def test_executor_errors_are_logged_and_raised_by_next_call(clock, conf, caplog):
    class Failing(periodic_task.PeriodicTasks):
        @periodic_task.periodic_task(spacing=1, run_immediately=True)
        def fails(self, context):
            raise ValueError("async failure")

    manager = Failing(conf)
    caplog.set_level(logging.ERROR)
    manager.run_periodic_tasks(None, raise_on_error=True, executor="periodic_tasks")
    assert manager.wait_for_periodic_tasks(WAIT)
    assert "Error during Failing.fails" in caplog.text
    with pytest.raises(ValueError, match="async failure"):
        manager.run_periodic_tasks(None, raise_on_error=True, executor="periodic_tasks")
    # Raised once only.
    manager.run_periodic_tasks(None, raise_on_error=True, executor="periodic_tasks")
    assert manager.wait_for_periodic_tasks(WAIT)


def test_bad_executor_argument(conf):
    with pytest.raises(TypeError, match="executor must be"):
        Manager(conf).run_periodic_tasks(None, executor=3)


def test_manager_with_running_tasks_can_still_be_copied(clock, conf):
    # Futures hold locks, which cannot be deep-copied or pickled.
    release = threading.Event()
    started = threading.Event()

    class Blocking(periodic_task.PeriodicTasks):
        @periodic_task.periodic_task(spacing=1, run_immediately=True)
        def block(self, context):
            started.set()
            release.wait(WAIT)

    manager = Blocking(conf)
    try:
        manager.run_periodic_tasks(None, executor="periodic_tasks")
        assert started.wait(WAIT)
        assert manager._periodic_running.futures
        manager.conf = None  # the conf object is not what this test is about
        clone = copy.deepcopy(manager)
        assert clone._periodic_running.futures == {}
        assert pickle.loads(pickle.dumps(manager._periodic_running)).futures == {}
    finally:
        release.set()


@pytest.mark.parametrize("timeout, error", [(-1, ValueError), ("1", TypeError)])
def test_wait_for_periodic_tasks_bad_timeout(conf, timeout, error):
    with pytest.raises(error, match="timeout"):
        Manager(conf).wait_for_periodic_tasks(timeout)


class ParallelManager(periodic_task.PeriodicTasks):
    def __init__(self, conf, barrier):
        super().__init__(conf)
        self.barrier = barrier
        self.ran = []

    @periodic_task.periodic_task(spacing=10, run_immediately=True)
    def first(self, context):
        self.barrier.wait(WAIT)  # both tasks run at the same time, or this breaks
        self.ran.append(("first", context))

    @periodic_task.periodic_task(spacing=20, run_immediately=True)
    def second(self, context):
        self.barrier.wait(WAIT)
        self.ran.append(("second", context))


@pytest.mark.parametrize("processes", [None, 2])
def test_run_periodic_tasks_in_parallel_runs_side_by_side_and_keeps_state(conf, processes):
    manager = ParallelManager(conf, threading.Barrier(2))

    idle_for = manager.run_periodic_tasks_in_parallel("ctx", processes=processes)

    # Returned after both ran; what they changed on the manager is kept (no pickling).
    assert sorted(manager.ran) == [("first", "ctx"), ("second", "ctx")]
    assert idle_for == 10


def test_run_periodic_tasks_in_parallel_raises_the_first_error_on_request(conf):
    class Failing(periodic_task.PeriodicTasks):
        @periodic_task.periodic_task(spacing=10, run_immediately=True)
        def boom(self, context):
            raise RuntimeError("task failed")

    with pytest.raises(RuntimeError, match="task failed"):
        Failing(conf).run_periodic_tasks_in_parallel(None, raise_on_error=True)
    assert Failing(conf).run_periodic_tasks_in_parallel(None) == 10


def test_run_periodic_tasks_in_parallel_checks_processes_and_backend(conf, monkeypatch):
    manager = ParallelManager(conf, threading.Barrier(2))
    with pytest.raises(ValueError, match="processes must be None or an int >= 1"):
        manager.run_periodic_tasks_in_parallel(None, processes=0)
    with pytest.raises(TypeError, match="processes must be None or an int >= 1"):
        manager.run_periodic_tasks_in_parallel(None, processes="2")
    monkeypatch.setattr(
        periodic_task.backend,
        "get_backend_type",
        lambda: periodic_task.backend.BackendType.EVENTLET,
    )
    with pytest.raises(periodic_task.UnsupportedBackendError, match="eventlet backend"):
        manager.run_periodic_tasks_in_parallel(None)
