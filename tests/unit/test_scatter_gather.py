import copy
import logging
import pickle
import threading

import pytest

from oslo_threading_backend import executors
from oslo_threading_backend.scatter_gather import DID_NOT_RESPOND
from oslo_threading_backend.scatter_gather import scatter_gather

WAIT = 5.0


@pytest.fixture(autouse=True)
def conf(executors_conf):
    return executors_conf


def test_results_by_target_with_arguments():
    def fn(target, factor, offset=0):
        return target * factor + offset

    assert scatter_gather([1, 2, 3], fn, 10, offset=1) == {1: 11, 2: 21, 3: 31}


def test_targets_run_in_parallel_on_the_scatter_gather_pool():
    barrier = threading.Barrier(3)

    def fn(target):
        barrier.wait(WAIT)  # breaks unless all three run at once
        return threading.current_thread().name

    names = scatter_gather(["a", "b", "c"], fn, timeout=WAIT)
    assert all(".scatter_gather-" in name for name in names.values())
    assert len(set(names.values())) == 3


def test_exception_is_the_result_of_its_target_and_is_logged(caplog):
    def fn(target):
        if target == "bad":
            raise KeyError("boom")
        return "ok"

    results = scatter_gather(["good", "bad"], fn, timeout=WAIT)
    assert results["good"] == "ok"
    assert isinstance(results["bad"], KeyError)
    (record,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "target bad" in record.getMessage()
    assert record.exc_info[1] is results["bad"]


def test_running_and_queued_targets_that_time_out(conf, caplog):
    conf.set_override("scatter_gather_thread_pool_size", 1)
    release = threading.Event()
    ran = []

    def fn(target):
        ran.append(target)
        if target == "slow":
            release.wait(WAIT)
        return target

    try:
        results = scatter_gather(["slow", "queued"], fn, timeout=0.2)
    finally:
        release.set()
    assert results == {"slow": DID_NOT_RESPOND, "queued": DID_NOT_RESPOND}
    assert "Target slow did not respond within 0.2 seconds: its call is still running" in (
        caplog.text
    )
    assert "Target queued did not respond within 0.2 seconds: its call was still queued" in (
        caplog.text
    )
    # The running call was left to finish; the queued one never ran.
    executors.reset_all()
    assert ran == ["slow"]


def test_did_not_respond_is_a_readable_singleton():
    assert repr(DID_NOT_RESPOND) == "DID_NOT_RESPOND"
    assert copy.deepcopy(DID_NOT_RESPOND) is DID_NOT_RESPOND
    assert pickle.loads(pickle.dumps(DID_NOT_RESPOND)) is DID_NOT_RESPOND
    assert type(DID_NOT_RESPOND)() is DID_NOT_RESPOND


def test_no_targets():
    assert scatter_gather([], print) == {}
    # Nothing to run: no executor is looked up, so none is needed (as spawn_on per target).
    executors.shutdown_all()
    assert scatter_gather([], print) == {}


def test_duplicate_targets_run_once():
    calls = []
    assert scatter_gather([1, 1], calls.append, timeout=WAIT) == {1: None}
    assert calls == [1]


@pytest.mark.parametrize(
    "args, kwargs, error, match",
    [
        (([1], "not callable"), {}, TypeError, "fn must be callable"),
        (([1], print), {"timeout": -1}, ValueError, "timeout"),
        (([1], print), {"timeout": "10"}, TypeError, "timeout"),
        ((5, print), {}, TypeError, "targets must be iterable"),
        (("abc", print), {}, TypeError, "targets must be a collection"),
    ],
)
def test_bad_input(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        scatter_gather(*args, **kwargs)


def test_after_shutdown_all_is_a_runtime_error():
    executors.shutdown_all()
    with pytest.raises(RuntimeError):
        scatter_gather([1], print)
