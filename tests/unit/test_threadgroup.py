"""ThreadGroup on native threads: queueing beyond max_threads, cooperative stop,
link/cancel that do something, named threads, no leaks and fork safety."""

import os
import threading
import time
from unittest import mock

import pytest

from oslo_threading_backend import loopingcall
from oslo_threading_backend import threadgroup
from oslo_threading_backend._threads import hung_tasks
from tests.unit.forking import run_in_child
from tests.unit.polling import wait_until

TIMEOUT = 10  # generous bound on waits that should end at once


@pytest.fixture
def make_group():
    """Groups made by a test; at the end their threads are stopped and waited for."""
    groups = []
    releases = []

    def make(*args, release=None, **kwargs):
        group = threadgroup.ThreadGroup(*args, **kwargs)
        groups.append(group)
        if release is not None:
            releases.append(release)
        return group

    yield make
    for event in releases:
        event.set()
    for group in groups:
        threads = group.threads  # stop() takes them out of the listing
        group.stop()
        for thread in threads:
            try:
                thread.wait(TIMEOUT)
            except Exception:
                pass
        assert group.threads == []


# -- Thread ------------------------------------------------------------------


def test_wait_returns_result_and_thread_leaves_group(make_group):
    group = make_group()
    thread = group.add_thread(lambda a, b=0: a + b, 1, b=2)
    assert thread.wait(TIMEOUT) == 3
    assert wait_until(lambda: group.threads == [])


def test_wait_raises_the_threads_exception_and_it_is_logged(make_group, caplog):
    group = make_group()

    def boom():
        raise KeyError("bad")

    thread = group.add_thread(boom)
    with pytest.raises(KeyError, match="bad"):
        thread.wait(TIMEOUT)
    assert any(r.exc_info and r.exc_info[0] is KeyError for r in caplog.records)
    group.wait()  # errors are not raised by the group's wait


def test_wait_timeout(make_group):
    release = threading.Event()
    group = make_group(release=release)
    thread = group.add_thread(release.wait)
    with pytest.raises(loopingcall.WaitTimeout):
        thread.wait(0.01)


def test_threads_are_named_daemons_and_ident_is_native(make_group):
    seen = {}

    def record():
        me = threading.current_thread()
        seen.update(name=me.name, daemon=me.daemon, ident=threading.get_ident())
        seen["current"] = threadgroup.current_thread()

    group = make_group(name="api")
    first = group.add_thread(record)
    first.wait(TIMEOUT)
    assert seen["name"] == "api-1" == first.name
    assert seen["daemon"] is True
    assert seen["ident"] == first.ident
    assert seen["current"] is first
    assert group.add_thread(lambda: None).name == "api-2"
    assert make_group().add_thread(lambda: None).name == "ThreadGroup-1"
    assert threadgroup.current_thread() is None


def test_stop_sets_the_cooperative_flag_the_target_reads(make_group):
    group = make_group()
    started = threading.Event()

    def worker():
        started.set()
        steps = 0
        while not threadgroup.stop_requested():
            steps += 1
            threadgroup.current_thread().stop_event.wait(0.01)
        return "stopped cleanly"

    thread = group.add_thread(worker)
    assert started.wait(TIMEOUT)
    assert not thread.stop_requested
    thread.stop()
    assert thread.stop_requested
    assert thread.wait(TIMEOUT) == "stopped cleanly"


def test_stop_event_wakes_a_waiting_target_at_once(make_group):
    group = make_group()
    thread = group.add_thread(lambda: threadgroup.current_thread().stop_event.wait(3600))
    assert wait_until(lambda: thread.ident is not None)
    thread.stop()
    assert thread.wait(TIMEOUT) is True


def test_stop_requested_is_false_outside_group_threads():
    assert threadgroup.stop_requested() is False


def test_link_is_called_with_thread_and_args_when_it_ends(make_group):
    release = threading.Event()
    group = make_group(release=release)
    linked = []
    thread = group.add_thread(release.wait)
    thread.link(lambda t, *a, **kw: linked.append((t, a, kw)), 1, k=2)
    assert linked == []
    release.set()
    thread.wait(TIMEOUT)
    assert wait_until(lambda: linked == [(thread, (1,), {"k": 2})])


def test_group_wait_includes_links(make_group):
    release = threading.Event()
    group = make_group(release=release)
    linked = threading.Event()
    thread = group.add_thread(release.wait)
    thread.link(lambda t: linked.set())
    release.set()
    group.wait()
    assert linked.is_set()


def test_link_on_an_ended_thread_is_called_at_once(make_group):
    group = make_group()
    thread = group.add_thread(lambda: None)
    thread.wait(TIMEOUT)
    linked = []
    thread.link(linked.append)
    assert linked == [thread]


def test_failing_link_is_logged_and_others_still_run(make_group, caplog):
    release = threading.Event()
    group = make_group(release=release)
    thread = group.add_thread(release.wait)
    after = threading.Event()
    thread.link(lambda t: 1 / 0)
    thread.link(lambda t: after.set())
    release.set()
    assert after.wait(TIMEOUT)
    assert "Error in a link of thread" in caplog.text


def test_unlink(make_group):
    release = threading.Event()
    group = make_group(release=release)
    thread = group.add_thread(release.wait)
    callback = mock.Mock()
    thread.link(callback, "x")
    assert thread.unlink(callback, "x") is True
    assert thread.unlink(callback, "x") is False
    release.set()
    group.wait()
    callback.assert_not_called()


def test_link_rejects_non_callable(make_group):
    thread = make_group().add_thread(lambda: None)
    with pytest.raises(TypeError, match="func must be callable"):
        thread.link("nope")


# -- queueing ----------------------------------------------------------------


def test_full_group_queues_instead_of_raising(make_group):
    release = threading.Event()
    group = make_group(2, release=release)
    lock = threading.Lock()
    active, peak = [0], [0]

    def work(i):
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        release.wait()
        with lock:
            active[0] -= 1
        return i

    threads = [group.add_thread(work, i) for i in range(5)]
    assert wait_until(lambda: active[0] == 2)
    assert [t.thread.is_alive() for t in threads] == [True, True, False, False, False]
    assert group.threads == threads
    release.set()
    assert [t.wait(TIMEOUT) for t in threads] == [0, 1, 2, 3, 4]
    assert peak[0] == 2
    group.wait()
    assert group.threads == []


def test_cancel_removes_a_queued_thread(make_group):
    release = threading.Event()
    group = make_group(1, release=release)
    running = group.add_thread(release.wait)
    func = mock.Mock()
    queued = group.add_thread(func)
    linked = []
    queued.link(linked.append)
    assert queued.ident is None
    assert queued.cancel() is True
    assert group.threads == [running]
    assert linked == [queued]
    with pytest.raises(threadgroup.ThreadCancelled):
        queued.wait(TIMEOUT)
    assert running.cancel() is False  # already started: not cancellable
    release.set()
    group.wait()
    func.assert_not_called()


def test_cancel_with_throw_args_makes_wait_raise_it(make_group):
    release = threading.Event()
    group = make_group(1, release=release)
    group.add_thread(release.wait)
    queued = group.add_thread(lambda: None)
    assert queued.cancel(ValueError("told to go")) is True
    with pytest.raises(ValueError, match="told to go"):
        queued.wait(TIMEOUT)


def test_stop_on_a_queued_thread_cancels_it(make_group):
    release = threading.Event()
    group = make_group(1, release=release)
    group.add_thread(release.wait)
    func = mock.Mock()
    queued = group.add_thread(func)
    queued.stop()
    with pytest.raises(threadgroup.ThreadCancelled):
        queued.wait(TIMEOUT)
    release.set()
    group.wait()
    func.assert_not_called()


def test_no_native_thread_left_after_wait(make_group):
    before = _threads_but_the_watcher()
    group = make_group(4)
    for _ in range(50):
        group.add_thread(lambda: None)
    group.wait()
    assert group.threads == []
    assert _threads_but_the_watcher() == before


# -- the group ---------------------------------------------------------------


def test_stop_cancels_queued_and_asks_running_to_stop(make_group):
    group = make_group(1)
    running = group.add_thread(lambda: threadgroup.current_thread().stop_event.wait(3600))
    queued_func = mock.Mock()
    queued = group.add_thread(queued_func)
    timer_func = mock.Mock()
    group.add_timer(3600, timer_func)
    assert wait_until(lambda: timer_func.called)
    group.stop()
    assert group.timers == []
    assert running.stop_requested
    group.wait()
    assert group.threads == []
    with pytest.raises(threadgroup.ThreadCancelled):
        queued.wait(TIMEOUT)
    queued_func.assert_not_called()


def test_stop_takes_the_running_threads_out_of_threads_and_wait_still_waits(make_group):
    # oslo.service's threading backend empties ``threads`` at stop().
    group = make_group()
    release = threading.Event()
    running = group.add_thread(release.wait, TIMEOUT)
    sleeping = group.add_thread(time.sleep, 0.2)
    assert wait_until(lambda: running.thread.is_alive() and sleeping.thread.is_alive())
    group.stop()
    assert group.threads == []
    assert not running.ready()
    waited = threading.Thread(target=group.wait)
    waited.start()
    waited.join(0.05)
    assert waited.is_alive()  # running ignores its stop event: wait() waits for it
    release.set()
    waited.join(TIMEOUT)
    assert not waited.is_alive()
    assert running.ready() and sleeping.ready()
    assert group.threads == []
    # The group is reusable and lists its new threads.
    again = group.add_thread(lambda: "again")
    assert again.wait(TIMEOUT) == "again"


def test_graceful_stop_waits_for_threads_and_queued_ones_still_run(make_group):
    group = make_group(1)
    results = []
    gate = threading.Event()

    def slow(i):
        gate.wait(TIMEOUT)
        results.append(i)

    threads = [group.add_thread(slow, i) for i in range(3)]
    opener = threading.Timer(0.05, gate.set)
    opener.start()
    group.stop(graceful=True)
    opener.join(TIMEOUT)
    assert results == [0, 1, 2]
    assert all(t.ready() for t in threads)
    assert not any(t.stop_requested for t in threads)


def test_add_thread_is_refused_while_stop_runs_then_group_is_reusable(make_group):
    group = make_group()
    inside = threading.Event()
    proceed = threading.Event()

    def blocking_timer():
        inside.set()
        proceed.wait(TIMEOUT)

    group.add_timer(3600, blocking_timer)
    assert inside.wait(TIMEOUT)
    stopper = threading.Thread(target=group.stop, kwargs={"graceful": True})
    stopper.start()
    try:
        assert wait_until(lambda: group._stopping)
        with pytest.raises(RuntimeError, match="is stopping"):
            group.add_thread(lambda: None)
        with pytest.raises(RuntimeError, match="is stopping"):
            group.add_timer(1, lambda: None)
    finally:
        proceed.set()
        stopper.join(TIMEOUT)
    assert not stopper.is_alive()
    # A service's start() after a reload adds work to the same group.
    assert group.add_thread(lambda: "again").wait(TIMEOUT) == "again"


def test_thread_asked_to_stop_cannot_add_threads(make_group):
    group = make_group()
    outcome = []

    def worker():
        threadgroup.current_thread().stop_event.wait(TIMEOUT)
        try:
            group.add_thread(lambda: None)
        except RuntimeError as exc:
            outcome.append(str(exc))

    thread = group.add_thread(worker)
    thread.stop()
    thread.wait(TIMEOUT)
    assert outcome and "asked to stop" in outcome[0]


def test_wait_from_a_thread_of_the_group_skips_itself(make_group):
    group = make_group()
    other = group.add_thread(lambda: "other")
    me = group.add_thread(lambda: group.wait() or "waited")
    assert me.wait(TIMEOUT) == "waited"
    assert other.ready()


def test_thread_done_forgets_a_thread(make_group):
    release = threading.Event()
    group = make_group(1, release=release)
    running = group.add_thread(release.wait)
    queued = group.add_thread(lambda: None)
    group.thread_done(queued)
    assert queued.ready()  # cancelled
    group.thread_done(running)
    assert group.threads == []
    release.set()
    running.wait(TIMEOUT)
    # The slot came back when the forgotten thread ended.
    assert group.add_thread(lambda: 1).wait(TIMEOUT) == 1


def test_cancel_with_timeout_stops_what_is_left(make_group):
    group = make_group(1)
    running = group.add_thread(lambda: threadgroup.current_thread().stop_event.wait(3600))
    queued = group.add_thread(lambda: None)
    group.cancel(timeout=0.05)
    assert running.stop_requested
    with pytest.raises(threadgroup.ThreadCancelled):
        queued.wait(TIMEOUT)
    running.wait(TIMEOUT)


def test_cancel_without_timeout_leaves_running_threads_alone(make_group):
    release = threading.Event()
    group = make_group(1, release=release)
    running = group.add_thread(release.wait)
    group.cancel()
    assert not running.stop_requested


def test_max_threads_is_deprecated_alias(make_group):
    group = make_group(7)
    assert group.thread_pool_size == 7
    with pytest.warns(DeprecationWarning):
        assert group.max_threads == 7


# -- timers ------------------------------------------------------------------


def test_add_timer_args_runs_repeatedly_with_args(make_group):
    group = make_group()
    seen = []
    done = threading.Event()

    def tick(a, b=None):
        seen.append((a, b))
        if len(seen) == 3:
            done.set()

    timer = group.add_timer_args(0.01, tick, ["x"], {"b": "y"})
    assert isinstance(timer, loopingcall.FixedIntervalLoopingCall)
    assert group.timers == [timer]
    assert done.wait(TIMEOUT)
    group.stop_timers(wait=True)
    assert group.timers == []
    assert seen[:3] == [("x", "y")] * 3


def test_add_timer_with_callback_args_is_deprecated(make_group):
    group = make_group()
    called = threading.Event()
    with pytest.warns(DeprecationWarning, match="add_timer_args"):
        group.add_timer(3600, lambda v: called.set(), None, "v")
    assert called.wait(TIMEOUT)


def test_add_timer_initial_delay(make_group):
    group = make_group()
    func = mock.Mock()
    group.add_timer(1, func, initial_delay=3600)
    group.stop_timers(wait=True)
    func.assert_not_called()


def test_dynamic_timer_and_ended_timer_leaves_group(make_group):
    group = make_group()
    calls = []

    def dyn(x):
        calls.append(x)
        if len(calls) == 2:
            raise loopingcall.LoopingCallDone("fin")
        return 0.01

    timer = group.add_dynamic_timer_args(dyn, ["a"], periodic_interval_max=1)
    assert isinstance(timer, loopingcall.DynamicLoopingCall)
    assert timer.wait(TIMEOUT) == "fin"
    assert wait_until(lambda: group.timers == [])
    with pytest.warns(DeprecationWarning):
        group.add_dynamic_timer(dyn, None, 1, "b")


def test_stop_timers_from_a_timer_callback_does_not_deadlock(make_group):
    group = make_group()
    done = threading.Event()

    def tick():
        group.stop_timers(wait=True)
        done.set()

    timer = group.add_timer(0.01, tick)
    assert done.wait(TIMEOUT)
    assert timer.wait(TIMEOUT) is True


def test_wait_after_group_stop_waits_for_the_timer_run_in_progress(make_group):
    # stop() removes the timers from the group; wait() must still see their runs end.
    group = make_group()
    inside = threading.Event()
    release = threading.Event()
    finished = threading.Event()

    def slow():
        inside.set()
        release.wait(TIMEOUT)
        finished.set()

    group.add_timer(3600, slow)
    assert inside.wait(TIMEOUT)
    group.stop()
    threading.Timer(0.05, release.set).start()
    group.wait()
    assert finished.is_set()
    assert group.timers == []


def test_timer_done_removes_without_stopping(make_group):
    group = make_group()
    timer = group.add_timer(3600, lambda: None)
    group.timer_done(timer)
    assert group.timers == []
    assert timer._running
    timer.stop()
    timer.wait(TIMEOUT)


def test_wait_waits_for_stopped_timers_runs(make_group):
    group = make_group()
    inside = threading.Event()
    finished = threading.Event()

    def slow():
        inside.set()
        threading.Event().wait(0.05)
        finished.set()

    timer = group.add_timer(3600, slow)
    assert inside.wait(TIMEOUT)
    timer.stop()
    group.wait()
    assert finished.is_set()


# -- bad input ---------------------------------------------------------------


@pytest.mark.parametrize(
    "value, error",
    [(0, ValueError), (-1, ValueError), ("3", TypeError), (2.0, TypeError), (True, TypeError)],
)
def test_max_threads_must_be_a_positive_int(value, error):
    with pytest.raises(error, match="max_threads must be an int >= 1"):
        threadgroup.ThreadGroup(value)


def test_bad_arguments_to_add_methods(make_group):
    group = make_group()
    with pytest.raises(TypeError, match="callback must be callable"):
        group.add_thread(None)
    with pytest.raises(TypeError, match="callback must be callable"):
        group.add_timer(1, "nope")
    with pytest.raises(ValueError, match="interval must be"):
        group.add_timer(-1, lambda: None)
    with pytest.raises(TypeError, match="interval must be"):
        group.add_timer("1", lambda: None)
    with pytest.raises(ValueError, match="initial_delay must be"):
        group.add_timer(1, lambda: None, initial_delay=-5)
    with pytest.raises(TypeError, match="periodic_interval_max must be"):
        group.add_dynamic_timer(lambda: 1, periodic_interval_max="x")
    with pytest.raises(TypeError, match="args must be"):
        group.add_timer_args(1, lambda: None, args="ab")
    with pytest.raises(TypeError, match="kwargs must be"):
        group.add_timer_args(1, lambda: None, kwargs=[("a", 1)])
    with pytest.raises(ValueError, match="timeout must be"):
        group.cancel(timeout=-1)
    with pytest.raises(TypeError, match="name must be"):
        threadgroup.ThreadGroup(name=3)
    assert group.timers == []  # no failed timer was left behind
    assert group.threads == []


# -- fork --------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # 3.12+: fork() with threads
def test_group_from_parent_works_in_forked_child(make_group):
    release = threading.Event()
    group = make_group(1, name="svc", release=release)
    running = group.add_thread(release.wait)
    queued = group.add_thread(lambda: "queued ran")
    ticked = threading.Event()
    group.add_timer(3600, ticked.set)
    assert ticked.wait(TIMEOUT)
    assert wait_until(lambda: running.thread.is_alive())

    def child():
        facts = [f"threads={group.threads} timers={group.timers}"]
        try:
            running.wait(1)
        except threadgroup.ThreadCancelled:
            facts.append("parent-thread-cancelled")
        new = group.add_thread(lambda: os.getpid())
        facts.append(f"new-ran={new.wait(TIMEOUT) == os.getpid()}")
        child_tick = threading.Event()
        group.add_timer(0.01, child_tick.set)
        facts.append(f"timer-ran={child_tick.wait(TIMEOUT)}")
        group.stop()
        group.wait()
        facts.append(f"empty={group.threads == []}")
        return " ".join(facts)

    report = run_in_child(child)
    assert report == (
        "threads=[] timers=[] parent-thread-cancelled new-ran=True timer-ran=True empty=True"
    )
    # The parent's group is untouched.
    assert group.threads == [running, queued]
    release.set()
    assert queued.wait(TIMEOUT) == "queued ran"


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_fork_from_a_group_thread_keeps_that_thread_in_the_child(make_group):
    release = threading.Event()
    group = make_group(2, release=release)
    group.add_thread(release.wait)

    def forker():
        me = threadgroup.current_thread()
        return run_in_child(
            lambda: f"{group.threads == [me]} {threadgroup.current_thread() is me}"
        )

    assert group.add_thread(forker).wait(TIMEOUT) == "True True"


def _threads_but_the_watcher():
    """Live threads, less the process's one stuck-task watcher (a singleton, not a leak)."""
    return sum(1 for t in threading.enumerate() if t.name != hung_tasks.WATCHER_NAME)
