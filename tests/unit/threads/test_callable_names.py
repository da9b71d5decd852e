"""Callables are named as oslo.service names them (oslo_utils.reflection), in logs and threads.

Log-based alerting must read the same text on both backends: a callable
object is ``'pkg.Class'``, never its repr with an address.
"""

from __future__ import annotations

import functools
import logging
import threading

from oslo_utils import reflection
import pytest

from oslo_threading_backend import loopingcall
from oslo_threading_backend import threadgroup
from oslo_threading_backend._threads import arg_checks

TIMEOUT = 10


class Ticker:
    """A callable object, as consumers pass to looping calls."""

    def __init__(self, stop_after: int = 1, fail: bool = False) -> None:
        self.calls = 0
        self.stop_after = stop_after
        self.fail = fail
        self.thread_name: str | None = None

    def __call__(self) -> None:
        self.thread_name = threading.current_thread().name
        self.calls += 1
        if self.fail:
            raise RuntimeError("tick failed")
        if self.calls >= self.stop_after:
            raise loopingcall.LoopingCallDone()

    def method(self) -> None:
        pass


def _function() -> None:
    pass


@pytest.mark.parametrize(
    "func",
    [
        Ticker(),
        Ticker().method,
        _function,
        lambda: None,
        functools.partial(_function),
        print,
        Ticker,
    ],
    ids=["object", "bound-method", "function", "lambda", "partial", "builtin", "class"],
)
def test_callable_name_is_oslo_utils_get_callable_name(func):
    assert arg_checks.callable_name(func) == reflection.get_callable_name(func)


def test_a_callable_object_is_named_by_its_class_not_its_repr():
    name = arg_checks.callable_name(Ticker())
    assert name == f"{__name__}.Ticker"
    assert "object at 0x" not in name


def test_looping_call_thread_of_a_callable_object_is_named_by_its_class():
    ticker = Ticker()
    call = loopingcall.FixedIntervalLoopingCall(ticker)
    assert call.start(interval=0).wait(TIMEOUT) is True
    assert ticker.thread_name == f"LoopingCall({__name__}.Ticker)"


def test_looping_call_failure_log_names_a_callable_object_by_its_class(caplog):
    ticker = Ticker(fail=True)
    call = loopingcall.FixedIntervalLoopingCall(ticker)
    with caplog.at_level(logging.ERROR), pytest.raises(RuntimeError):
        call.start(interval=0, stop_on_exception=True).wait(TIMEOUT)
    messages = [r.getMessage() for r in caplog.records]
    assert any(f"'{__name__}.Ticker' failed" in m for m in messages), messages
    assert not any("object at 0x" in m for m in messages), messages


def test_thread_group_failure_log_names_a_callable_object_by_its_class(caplog):
    group = threadgroup.ThreadGroup()
    with caplog.at_level(logging.ERROR, logger="oslo_threading_backend.threadgroup"):
        thread = group.add_thread(Ticker(fail=True))
        with pytest.raises(RuntimeError):
            thread.wait()
    group.stop()
    messages = [r.getMessage() for r in caplog.records]
    assert any(f"running {__name__}.Ticker failed" in m for m in messages), messages
    assert not any("object at 0x" in m for m in messages), messages
