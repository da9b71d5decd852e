"""Looping calls on native threads: oslo.service's semantics, plus prompt stop,
a drift-free schedule, no leftover threads and fork safety."""

import os
import threading
import time
from unittest import mock

import pytest

from oslo_threading_backend import fixture
from oslo_threading_backend import loopingcall
from oslo_threading_backend._threads import hung_tasks
from tests.unit.forking import run_in_child

TIMEOUT = 10  # generous bound on waits that should end at once


@pytest.fixture
def sleepfx():
    with fixture.SleepFixture() as fx:
        yield fx


@pytest.fixture
def calls():
    """Looping calls made by a test; any still running is stopped at the end."""
    made = []
    yield made
    for call in made:
        call.stop()
        if call.done is not None:
            try:
                call.wait(TIMEOUT)
            except Exception:
                pass


def raise_done(value):
    def func():
        raise loopingcall.LoopingCallDone(value)

    return func


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


# -- results -------------------------------------------------------------------


@pytest.mark.parametrize("value", [True, False, "payload", None])
def test_start_wait_returns_loopingcalldone_value(value):
    timer = loopingcall.FixedIntervalLoopingCall(raise_done(value))
    assert timer.start(interval=0.5).wait(TIMEOUT) == value
    assert timer.wait(TIMEOUT) == value


def test_default_retvalue_is_true():
    def func():
        raise loopingcall.LoopingCallDone()

    assert loopingcall.FixedIntervalLoopingCall(func).start(interval=0).wait(TIMEOUT) is True


def test_exception_ends_the_call_and_is_raised_by_wait(caplog):
    def func():
        raise KeyError("boom")

    timer = loopingcall.FixedIntervalLoopingCall(func)
    with pytest.raises(KeyError, match="boom"):
        timer.start(interval=0.5).wait(TIMEOUT)
    assert "Fixed interval looping call" in caplog.text and "failed" in caplog.text


def test_system_exit_in_function_reaches_wait_instead_of_hanging():
    def func():
        raise SystemExit(3)

    with pytest.raises(SystemExit):
        loopingcall.FixedIntervalLoopingCall(func).start(interval=0).wait(TIMEOUT)


def test_do_not_stop_on_exception_logs_and_goes_on(sleepfx, caplog):
    runs = []

    def func():
        runs.append(1)
        if len(runs) < 3:
            raise RuntimeError("transient")
        raise loopingcall.LoopingCallDone("recovered")

    timer = loopingcall.FixedIntervalLoopingCall(func)
    assert timer.start(interval=0.5, stop_on_exception=False).wait(TIMEOUT) == "recovered"
    assert len(runs) == 3
    failures = [r for r in caplog.records if r.levelname == "ERROR" and r.exc_info]
    assert [str(r.exc_info[1]) for r in failures] == ["transient", "transient"]


def test_args_and_kwargs_are_passed():
    seen = []

    def func(a, b, c=None):
        seen.append((a, b, c))
        raise loopingcall.LoopingCallDone()

    loopingcall.FixedIntervalLoopingCall(func, 1, 2, c=3).start(interval=0).wait(TIMEOUT)
    assert seen == [(1, 2, 3)]


def test_wait_before_start_is_a_clear_error():
    with pytest.raises(RuntimeError, match="before start"):
        loopingcall.FixedIntervalLoopingCall(lambda: None).wait()


def test_wait_timeout_raises_waittimeout(calls):
    timer = loopingcall.FixedIntervalLoopingCall(lambda: None)
    calls.append(timer)
    timer.start(interval=60)
    with pytest.raises(loopingcall.WaitTimeout):
        timer.wait(0.01)
    # oslo.service raises RuntimeError there: callers catching it keep working.
    assert issubclass(loopingcall.WaitTimeout, RuntimeError)


# -- start / stop --------------------------------------------------------------


def test_no_double_start_but_restart_after_end(calls):
    release = threading.Event()

    def func():
        if release.is_set():
            raise loopingcall.LoopingCallDone("first")

    timer = loopingcall.FixedIntervalLoopingCall(func)
    calls.append(timer)
    timer.start(interval=0.01)
    with pytest.raises(RuntimeError, match="one function at a time"):
        timer.start(interval=0.01)
    release.set()
    assert timer.wait(TIMEOUT) == "first"
    assert timer.start(interval=0.01).wait(TIMEOUT) == "first"


def test_stop_during_a_long_interval_takes_effect_at_once():
    ran = threading.Event()
    timer = loopingcall.FixedIntervalLoopingCall(ran.set)
    result = timer.start(interval=3600)
    assert ran.wait(TIMEOUT)
    started = time.monotonic()
    timer.stop()
    assert result.wait(TIMEOUT) is True
    assert time.monotonic() - started < 1


def test_stop_during_initial_delay_never_runs_the_function():
    func = mock.Mock()
    timer = loopingcall.FixedIntervalLoopingCall(func)
    result = timer.start(interval=1, initial_delay=3600)
    timer.stop()
    assert result.wait(TIMEOUT) is True
    func.assert_not_called()


def test_stop_twice_and_before_start_is_harmless():
    timer = loopingcall.FixedIntervalLoopingCall(raise_done(False))
    timer.stop()
    assert timer.start(interval=0.5).wait(TIMEOUT) is False
    timer.stop()
    timer.stop()


def test_stop_from_inside_the_function_ends_after_that_run():
    runs = []

    def func():
        runs.append(1)
        timer.stop()

    timer = loopingcall.FixedIntervalLoopingCall(func)
    assert timer.start(interval=3600).wait(TIMEOUT) is True
    assert runs == [1]


def test_thousand_cycles_leave_no_thread_behind():
    before = _threads_but_the_watcher()
    for _ in range(1000):
        timer = loopingcall.FixedIntervalLoopingCall(lambda: None)
        timer.start(interval=60)
        timer.stop()
        timer.wait(TIMEOUT)
    assert _threads_but_the_watcher() == before


def test_loop_thread_is_a_daemon_named_after_the_function(calls):
    seen = {}

    def heartbeat():
        me = threading.current_thread()
        seen.update(name=me.name, daemon=me.daemon)
        raise loopingcall.LoopingCallDone()

    loopingcall.FixedIntervalLoopingCall(heartbeat).start(interval=0).wait(TIMEOUT)
    assert "heartbeat" in seen["name"]
    assert seen["daemon"] is True


# -- the fixed schedule --------------------------------------------------------


def test_fixed_interval_keeps_the_grid_and_skips_missed_slots(monkeypatch, caplog):
    """Runs start at t0 + k*interval whatever each run takes; a late run skips slots."""
    clock = FakeClock()
    monkeypatch.setattr(loopingcall, "_now", clock)
    durations = [0.3, 0.3, 2.5, 0.3, 0.3]
    starts = []

    def func():
        starts.append(clock.now)
        clock.now += durations[len(starts) - 1]
        if len(starts) == len(durations):
            raise loopingcall.LoopingCallDone()

    def fake_sleep(timeout):
        clock.now += timeout

    with mock.patch.object(loopingcall.LoopingCallBase, "_sleep", side_effect=fake_sleep):
        loopingcall.FixedIntervalLoopingCall(func).start(interval=1).wait(TIMEOUT)
    # The third run ended at 1004.5, past slots 1003 and 1004: next run at 1005.
    assert starts == pytest.approx([1000, 1001, 1002, 1005, 1006])
    assert "run outlasted interval by 1.50 sec" in caplog.text


def test_fixed_interval_does_not_drift_in_real_time():
    interval, runs = 0.05, 6
    starts = []

    def func():
        starts.append(time.monotonic())
        threading.Event().wait(0.03)  # the work itself takes most of the interval
        if len(starts) == runs:
            raise loopingcall.LoopingCallDone()

    loopingcall.FixedIntervalLoopingCall(func).start(interval=interval).wait(TIMEOUT)
    # Sleeping a full interval after each run would put the last start at 0.40 s.
    assert starts[-1] - starts[0] == pytest.approx((runs - 1) * interval, abs=0.06)


def test_fixed_interval_under_sleep_fixture_asks_for_the_interval(sleepfx):
    runs = []

    def func():
        runs.append(1)
        if len(runs) == 3:
            raise loopingcall.LoopingCallDone()

    loopingcall.FixedIntervalLoopingCall(func).start(interval=5, initial_delay=2).wait(TIMEOUT)
    assert sleepfx.mock_wait.call_args_list == [mock.call(2), mock.call(5), mock.call(5)]


def test_fixed_interval_with_timeout_times_out():
    timer = loopingcall.FixedIntervalWithTimeoutLoopingCall(lambda: None)
    with pytest.raises(loopingcall.LoopingCallTimeOut, match="timed out after"):
        timer.start(interval=0.01, timeout=0.05).wait(TIMEOUT)


def test_fixed_interval_with_timeout_returns_value_before_timeout():
    timer = loopingcall.FixedIntervalWithTimeoutLoopingCall(raise_done("ok"))
    assert timer.start(interval=0.01, timeout=5).wait(TIMEOUT) == "ok"


# -- dynamic -------------------------------------------------------------------


def test_dynamic_waits_what_the_function_returns_capped_by_max(sleepfx):
    func = mock.Mock(side_effect=[1, 50, None, 2, loopingcall.LoopingCallDone("end")])
    timer = loopingcall.DynamicLoopingCall(func)
    assert timer.start(initial_delay=3, periodic_interval_max=10).wait(TIMEOUT) == "end"
    expected = [mock.call(3), mock.call(1), mock.call(10), mock.call(10), mock.call(2)]
    assert sleepfx.mock_wait.call_args_list == expected


def test_dynamic_none_without_max_is_an_error(sleepfx):
    timer = loopingcall.DynamicLoopingCall(lambda: None)
    with pytest.raises(RuntimeError, match="periodic_interval_max"):
        timer.start().wait(TIMEOUT)


def test_dynamic_non_number_return_is_a_clear_error(sleepfx):
    timer = loopingcall.DynamicLoopingCall(lambda: "soon")
    with pytest.raises(TypeError, match="must return a number of seconds"):
        timer.start().wait(TIMEOUT)


def test_dynamic_failure_waits_periodic_interval_max(sleepfx):
    func = mock.Mock(side_effect=[RuntimeError("x"), loopingcall.LoopingCallDone(1)])
    timer = loopingcall.DynamicLoopingCall(func)
    timer.start(periodic_interval_max=7, stop_on_exception=False).wait(TIMEOUT)
    assert sleepfx.mock_wait.call_args_list == [mock.call(7)]


def test_dynamic_stop_during_long_wait_takes_effect_at_once():
    ran = threading.Event()

    def func():
        ran.set()
        return 3600

    timer = loopingcall.DynamicLoopingCall(func)
    result = timer.start()
    assert ran.wait(TIMEOUT)
    timer.stop()
    assert result.wait(2) is True


# -- backoff (values from oslo.service's own tests) ----------------------------

BACKOFF_TIMES = [
    1.6,
    2.4000000000000004,
    3.6,
    5.4,
    8.1,
    12.15,
    18.225,
    27.337500000000002,
    41.00625,
    61.509375000000006,
    92.26406250000001,
]


@pytest.mark.parametrize("gauss", [0.8, -0.8])
def test_backoff_grows_until_timeout(sleepfx, gauss):
    with mock.patch("random.SystemRandom.gauss", return_value=gauss):
        call = loopingcall.BackOffLoopingCall(lambda: False)
        with pytest.raises(loopingcall.LoopingCallTimeOut):
            call.start().wait(TIMEOUT)
    assert sleepfx.mock_wait.call_args_list == [mock.call(t) for t in BACKOFF_TIMES]


def test_backoff_respects_max_interval(sleepfx):
    with mock.patch("random.SystemRandom.gauss", return_value=0.8):
        call = loopingcall.BackOffLoopingCall(lambda: False)
        with pytest.raises(loopingcall.LoopingCallTimeOut):
            call.start(max_interval=60).wait(TIMEOUT)
    expected = BACKOFF_TIMES[:9] + [60, 60, 60]
    assert sleepfx.mock_wait.call_args_list == [mock.call(t) for t in expected]


def test_backoff_success_resets_and_returns_value(sleepfx):
    func = mock.Mock(side_effect=[True, True, True, loopingcall.LoopingCallDone("rv")])
    with mock.patch("random.SystemRandom.gauss", return_value=1):
        assert loopingcall.BackOffLoopingCall(func).start().wait(TIMEOUT) == "rv"
    assert sleepfx.mock_wait.call_args_list == [mock.call(1)] * 3


def test_backoff_first_success_does_not_wait(sleepfx):
    func = mock.Mock(side_effect=loopingcall.LoopingCallDone("rv"))
    assert loopingcall.BackOffLoopingCall(func).start().wait(TIMEOUT) == "rv"
    sleepfx.mock_wait.assert_not_called()


# -- RetryDecorator ------------------------------------------------------------


class AnError(Exception):
    pass


def test_retry_returns_result_without_waiting(sleepfx):
    @loopingcall.RetryDecorator()
    def func(x, y=0):
        return x + y

    assert func(1, y=2) == 3
    sleepfx.mock_wait.assert_not_called()


def test_retry_on_expected_exceptions_with_growing_waits(sleepfx):
    responses = [AnError(), AnError(), "RESULT"]

    def func():
        response = responses.pop(0)
        if isinstance(response, Exception):
            raise response
        return response

    retry = loopingcall.RetryDecorator(10, 0.5, 10, (AnError,))
    assert retry(func)() == "RESULT"
    assert sleepfx.mock_wait.call_args_list == [mock.call(0.5), mock.call(1.0)]
    assert retry._retry_count == 2
    assert retry._sleep_time == 1.0


def test_retry_gives_up_after_max_retry_count(sleepfx):
    func = mock.Mock(side_effect=AnError("always"))
    retry = loopingcall.RetryDecorator(2, 0, 0, (AnError,))
    with pytest.raises(AnError, match="always"):
        retry(func)()
    assert func.call_count == 3


def test_retry_does_not_retry_unexpected_exceptions(sleepfx):
    func = mock.Mock(side_effect=KeyError("x"))
    with pytest.raises(KeyError):
        loopingcall.RetryDecorator(exceptions=(AnError,))(func)()
    assert func.call_count == 1


def test_retry_counts_per_call_not_per_decorator(sleepfx):
    """oslo.service shares the counter: a second call would have no retries left."""
    attempts = []

    @loopingcall.RetryDecorator(max_retry_count=1, inc_sleep_time=1, exceptions=AnError)
    def func():
        attempts.append(1)
        if len(attempts) % 2:
            raise AnError()
        return len(attempts)

    assert func() == 2
    assert func() == 4
    assert sleepfx.mock_wait.call_args_list == [mock.call(1), mock.call(1)]


def test_sleep_fixture_example_from_oslo_service(sleepfx):
    @loopingcall.RetryDecorator(max_retry_count=3, inc_sleep_time=2, exceptions=(ValueError,))
    def retried_method():
        raise ValueError("!")

    with pytest.raises(ValueError):
        retried_method()
    assert sleepfx.mock_wait.call_count == 3
    sleepfx.mock_wait.assert_has_calls([mock.call(x) for x in (2, 4, 6)])


# -- bad input -----------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"interval": -1}, ValueError, "interval must be a finite number of seconds >= 0"),
        ({"interval": "1"}, TypeError, "interval must be a number of seconds >= 0"),
        ({"interval": True}, TypeError, "interval must be a number"),
        ({"interval": float("nan")}, ValueError, "interval must be a finite"),
        ({"interval": 1, "initial_delay": -2}, ValueError, "initial_delay must be"),
        ({"interval": 1, "initial_delay": "2"}, TypeError, "initial_delay must be .* or None"),
    ],
)
def test_fixed_interval_bad_input(kwargs, error, message):
    timer = loopingcall.FixedIntervalLoopingCall(lambda: None)
    with pytest.raises(error, match=message):
        timer.start(**kwargs)
    assert timer.done is None  # nothing was started


@pytest.mark.parametrize(
    "make, error, message",
    [
        (
            lambda: loopingcall.FixedIntervalWithTimeoutLoopingCall(lambda: None).start(
                1, timeout=-1
            ),
            ValueError,
            "timeout must be",
        ),
        (
            lambda: loopingcall.DynamicLoopingCall(lambda: None).start(periodic_interval_max="x"),
            TypeError,
            "periodic_interval_max must be",
        ),
        (
            lambda: loopingcall.BackOffLoopingCall(lambda: None).start(jitter=-1),
            ValueError,
            "jitter must be",
        ),
        (lambda: loopingcall.FixedIntervalLoopingCall(42), TypeError, "f must be callable"),
        (
            lambda: loopingcall.FixedIntervalLoopingCall().start(interval=1),
            TypeError,
            "no function to call",
        ),
        (lambda: loopingcall.RetryDecorator(max_retry_count=-2), ValueError, "max_retry_count"),
        (lambda: loopingcall.RetryDecorator(max_retry_count=1.5), TypeError, "max_retry_count"),
        (lambda: loopingcall.RetryDecorator(inc_sleep_time=-1), ValueError, "inc_sleep_time"),
        (lambda: loopingcall.RetryDecorator(max_sleep_time="x"), TypeError, "max_sleep_time"),
        (lambda: loopingcall.RetryDecorator(exceptions=[ValueError]), TypeError, "exceptions"),
        (lambda: loopingcall.RetryDecorator()(None), TypeError, "f must be callable"),
    ],
)
def test_other_bad_input(make, error, message):
    with pytest.raises(error, match=message):
        make()


# -- fork ----------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # 3.12+: fork() with threads
def test_call_running_in_parent_can_be_restarted_in_forked_child(calls):
    ran = threading.Event()
    counter = []

    def func():
        counter.append(1)
        ran.set()
        if os.getpid() != parent_pid:
            raise loopingcall.LoopingCallDone(f"child ran {len(counter)}")

    parent_pid = os.getpid()
    timer = loopingcall.FixedIntervalLoopingCall(func)
    calls.append(timer)
    timer.start(interval=3600)
    assert ran.wait(TIMEOUT)

    def child():
        try:
            timer.wait(1)
        except RuntimeError as exc:
            lost = "did not survive fork" in str(exc)
        else:
            lost = False
        counter.clear()
        value = timer.start(interval=0.01).wait(TIMEOUT)
        return f"lost={lost} {value}"

    assert run_in_child(child) == "lost=True child ran 1"
    # The parent's call is untouched.
    assert timer._thread is not None and timer._thread.is_alive()


def _threads_but_the_watcher():
    """Live threads, less the process's one stuck-task watcher (a singleton, not a leak)."""
    return sum(1 for t in threading.enumerate() if t.name != hung_tasks.WATCHER_NAME)
