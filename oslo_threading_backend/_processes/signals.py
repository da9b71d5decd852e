"""oslo.service's signal helpers: the SignalHandler singleton, SignalExit, daemon checks."""

from __future__ import annotations

import collections
from collections.abc import Callable
import errno
import io
import os
import signal
import sys
import threading
import types
from typing import Any

from oslo_threading_backend._openstack import oslo_service_classes as _oslo_service_classes

SignalCallback = Callable[[int, types.FrameType | None], Any]


def get_signal_mappings() -> tuple[dict[str, int], dict[int, str]]:
    """Name <-> number maps of the signals this platform has."""
    by_name = {
        name: int(getattr(signal, name))
        for name in dir(signal)
        if name.startswith("SIG")
        and not name.startswith("SIG_")
        and isinstance(getattr(signal, name), signal.Signals)
    }
    return by_name, {number: name for name, number in by_name.items()}


def is_daemon() -> bool:
    """True when the process has no controlling terminal in the foreground."""
    try:
        return os.getpgrp() != os.tcgetpgrp(sys.stdout.fileno())
    except (io.UnsupportedOperation, ValueError, AttributeError):
        # stdout is not a real file (closed, replaced): no terminal to be in front of.
        return True
    except OSError as err:
        return err.errno == errno.ENOTTY


def is_sighup_and_daemon(signo: int, signal_handler: SignalHandler | None = None) -> bool:
    """oslo.service's test: a SIGHUP received by a daemon means "reload"."""
    handler = signal_handler if signal_handler is not None else SignalHandler()
    return handler.is_signal_supported("SIGHUP") and signo == signal.SIGHUP and is_daemon()


class SignalExit(*_oslo_service_classes.base("SignalExit"), SystemExit):
    """A SystemExit that remembers which signal caused it."""

    def __init__(self, signo: int, exccode: int = 1) -> None:
        # Not super(): oslo.service's SignalExit, when it is a base, takes signo first.
        SystemExit.__init__(self, exccode)
        self.signo = signo


class Singleton(type):
    """Metaclass: one instance per class per process, created under a lock."""

    _instances: dict[type, Any] = {}
    _lock = threading.Lock()

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        with Singleton._lock:
            if cls not in cls._instances:
                cls._instances[cls] = super().__call__(*args, **kwargs)
            return cls._instances[cls]


class SignalHandler(metaclass=Singleton):
    """Several callbacks per signal, by name; the last added runs first.

    Python runs signal handlers in the main thread only, so callbacks do
    little: the in-process launcher's callbacks only queue the signal.
    """

    def __init__(self) -> None:
        self._signals_by_name, self.signals_to_name = get_signal_mappings()
        self._signal_handlers: dict[int, list[SignalCallback]] = collections.defaultdict(list)

    def _signo(self, sig: str) -> int:
        if not isinstance(sig, str):
            raise TypeError(f"sig must be a signal name such as 'SIGTERM', not {sig!r}")
        if sig not in self._signals_by_name:
            raise ValueError(f"sig {sig!r} is not a signal of this platform")
        return self._signals_by_name[sig]

    def clear(self) -> None:
        """Restore the default action of every signal this object handles."""
        for signo in list(self._signal_handlers):
            signal.signal(signo, signal.SIG_DFL)
        self._signal_handlers.clear()

    def ignore_handler(self, sig: str) -> None:
        signo = self._signo(sig)
        signal.signal(signo, signal.SIG_IGN)
        self._signal_handlers.pop(signo, None)

    def add_handlers(self, signals: list[str], handler: SignalCallback) -> None:
        for sig in signals:
            self.add_handler(sig, handler)

    def add_handler(self, sig: str, handler: SignalCallback) -> None:
        if not callable(handler):
            raise TypeError(f"handler must be callable, not {handler!r}")
        if not isinstance(sig, str):
            raise TypeError(f"sig must be a signal name such as 'SIGTERM', not {sig!r}")
        if not self.is_signal_supported(sig):
            return
        signo = self._signals_by_name[sig]
        self._signal_handlers[signo].append(handler)
        signal.signal(signo, self._handle_signal_cb)

    def _handle_signal_cb(self, signo: int, frame: types.FrameType | None) -> None:
        for handler in reversed(self._signal_handlers[signo]):
            handler(signo, frame)

    def is_signal_supported(self, sig_name: str) -> bool:
        return sig_name in self._signals_by_name
