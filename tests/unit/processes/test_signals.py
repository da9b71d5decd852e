import io
import os
import signal
import sys
import threading

import pytest

from oslo_threading_backend import service


@pytest.fixture
def handler():
    h = service.SignalHandler()
    yield h
    h.clear()


def test_signal_handler_is_a_singleton():
    assert service.SignalHandler() is service.SignalHandler()


def test_handlers_run_last_added_first_on_a_real_signal(handler):
    calls = []
    got = threading.Event()
    handler.add_handler("SIGUSR1", lambda signo, frame: calls.append(("first", signo)))
    handler.add_handler(
        "SIGUSR1", lambda signo, frame: (calls.append(("second", signo)), got.set())
    )

    os.kill(os.getpid(), signal.SIGUSR1)

    assert got.wait(5)
    assert calls == [("second", signal.SIGUSR1), ("first", signal.SIGUSR1)]


def test_clear_restores_the_default_action(handler):
    handler.add_handler("SIGUSR1", lambda *a: None)
    handler.clear()
    assert signal.getsignal(signal.SIGUSR1) == signal.SIG_DFL


def test_ignore_handler_ignores_the_signal(handler):
    handler.add_handler("SIGUSR2", lambda *a: None)
    handler.ignore_handler("SIGUSR2")
    assert signal.getsignal(signal.SIGUSR2) == signal.SIG_IGN
    signal.signal(signal.SIGUSR2, signal.SIG_DFL)


def test_unknown_signal_names_are_not_supported_and_bad_input_is_rejected(handler):
    assert handler.is_signal_supported("SIGTERM")
    assert not handler.is_signal_supported("SIGNOPE")
    handler.add_handler("SIGNOPE", lambda *a: None)  # oslo.service: silently unsupported
    with pytest.raises(TypeError, match="handler must be callable"):
        handler.add_handler("SIGUSR1", "not callable")
    with pytest.raises(TypeError, match="sig must be a signal name"):
        handler.add_handler(signal.SIGUSR1, lambda *a: None)
    with pytest.raises(ValueError, match="'SIGNOPE' is not a signal"):
        handler.ignore_handler("SIGNOPE")


def test_signals_to_name_maps_numbers_to_names(handler):
    assert handler.signals_to_name[signal.SIGTERM] == "SIGTERM"


def test_signal_exit_carries_the_signal_and_exit_code():
    exc = service.SignalExit(signal.SIGHUP)
    assert isinstance(exc, SystemExit)
    assert exc.signo == signal.SIGHUP and exc.code == 1
    assert service.SignalExit(signal.SIGTERM, exccode=0).code == 0


def test_sighup_and_daemon_depends_on_the_terminal(monkeypatch):
    # With no terminal behind stdout the process counts as a daemon.
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    assert service._is_daemon() is True
    assert service._is_sighup_and_daemon(signal.SIGHUP) is True
    assert service._is_sighup_and_daemon(signal.SIGTERM) is False
