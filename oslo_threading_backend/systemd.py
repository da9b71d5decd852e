"""systemd's notify protocol: readiness, state changes and the watchdog.

Mirrors ``oslo_service.systemd`` (``notify``, ``notify_once``, ``onready``) and adds
``notify_state`` for the other states and a watchdog thread. Everything here is a
no-op when ``NOTIFY_SOCKET`` is unset, and a failed notification never raises into
the service: it is logged at DEBUG and reported as False, because a service must not
fail over a missing or restarted systemd.

Which process sends: systemd accepts notifications from the main PID only (unless
``NotifyAccess=all``), so with workers the master sends them. Forked workers inherit
``NOTIFY_SOCKET``; ``notify_once()`` removes it so they do not.
"""

from __future__ import annotations

from collections.abc import Callable
import contextlib
import logging
import math
import os
import socket
import time

from oslo_threading_backend._threads import ticker as _ticker

LOG = logging.getLogger(__name__)

READY = "READY=1"
STOPPING = "STOPPING=1"
WATCHDOG = "WATCHDOG=1"


def _abstractify(socket_name: str) -> str:
    # systemd writes abstract-namespace sockets with a leading '@'.
    if socket_name.startswith("@"):
        return "\0" + socket_name[1:]
    return socket_name


def _send(message: bytes, unset_environment: bool) -> bool:
    notify_socket = os.environ.get("NOTIFY_SOCKET")
    if not notify_socket:
        return False
    try:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    except OSError:
        LOG.debug("Systemd notification failed: no AF_UNIX socket", exc_info=True)
        return False
    with contextlib.closing(sock):
        try:
            sock.connect(_abstractify(notify_socket))
            sock.sendall(message)
        except (OSError, ValueError):
            # ValueError: a socket name with an embedded NUL or the like.
            LOG.debug("Systemd notification %r failed", message, exc_info=True)
            return False
    if unset_environment:
        os.environ.pop("NOTIFY_SOCKET", None)
    return True


def notify() -> bool:
    """Tell systemd the service is ready (``READY=1``).

    Returns True if the message was sent, False if NOTIFY_SOCKET is unset or the
    send failed (logged at DEBUG). oslo.service's version returns None.
    """
    return _send(READY.encode(), False)


def notify_once() -> bool:
    """Like ``notify()``, then remove NOTIFY_SOCKET from the environment.

    So that processes started afterwards (forked workers, subprocesses) do not
    notify systemd again. The variable stays set if the send failed.
    """
    return _send(READY.encode(), True)


def reloading_state() -> str:
    """The state ``Type=notify-reload`` expects when a reload begins.

    systemd needs ``MONOTONIC_USEC`` (CLOCK_MONOTONIC, microseconds) with
    ``RELOADING=1`` to tell this reload from an earlier one. Send ``READY=1`` when
    the reload is done.
    """
    usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    return f"RELOADING=1\nMONOTONIC_USEC={usec}"


def status_state(text: str) -> str:
    """``STATUS=<text>``: the line ``systemctl status`` shows; one line of text."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {text!r}")
    return "STATUS=" + " ".join(text.splitlines())


def notify_state(state: str, *, unset_environment: bool = False) -> bool:
    """Send ``state`` (newline-separated ``KEY=value`` assignments) to systemd.

    For example ``READY``, ``STOPPING``, ``WATCHDOG``, ``reloading_state()`` or
    ``status_state("...")``. Never raises for a failed send: returns False (logged at
    DEBUG), and False without doing anything when NOTIFY_SOCKET is unset. With
    ``unset_environment`` NOTIFY_SOCKET is removed after a successful send.
    Raises TypeError/ValueError for a ``state`` that is not a non-empty str.
    """
    if not isinstance(state, str):
        raise TypeError(f"state must be a str such as 'READY=1', got {state!r}")
    if not state.strip():
        raise ValueError("state must not be empty; send e.g. 'READY=1' or 'STOPPING=1'")
    if "=" not in state:
        raise ValueError(f"state must be KEY=value assignments such as 'READY=1', got {state!r}")
    return _send(state.encode("utf-8"), bool(unset_environment))


def onready(notify_socket: str, timeout: float) -> int:
    """Wait for a service's first notification on ``notify_socket`` (tests, scripts).

    Returns 0 if it said READY=1, 1 if it said something else, 2 on timeout.
    A leading '@' names an abstract-namespace socket. Unlike oslo.service, a
    message with READY=1 among other assignments counts as ready, and a
    filesystem socket is removed afterwards so the path can be reused.
    """
    if not isinstance(notify_socket, str) or not notify_socket:
        raise TypeError(f"notify_socket must be a non-empty str, got {notify_socket!r}")
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(f"timeout must be a number of seconds, got {timeout!r}")
    if not timeout > 0:
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
    address = _abstractify(notify_socket)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    with contextlib.closing(sock):
        sock.settimeout(timeout)
        sock.bind(address)
        try:
            try:
                msg = sock.recv(4096)
            except TimeoutError:
                return 2
        finally:
            if not address.startswith("\0"):
                with contextlib.suppress(OSError):
                    os.unlink(address)
    return 0 if READY.encode() in msg.split(b"\n") else 1


def watchdog_interval() -> float | None:
    """Seconds within which systemd expects ``WATCHDOG=1``, or None if it does not.

    From WATCHDOG_USEC, honoured only when WATCHDOG_PID is unset or names this
    process: a forked worker inherits the master's variables and must not ping.
    """
    usec = os.environ.get("WATCHDOG_USEC")
    if not usec:
        return None
    pid = os.environ.get("WATCHDOG_PID")
    if pid:
        try:
            if int(pid) != os.getpid():
                return None
        except ValueError:
            LOG.debug("Ignoring the systemd watchdog: WATCHDOG_PID=%r is not a pid", pid)
            return None
    try:
        value = int(usec)
    except ValueError:
        LOG.debug("Ignoring the systemd watchdog: WATCHDOG_USEC=%r is not an integer", usec)
        return None
    if value <= 0:
        return None
    return value / 1_000_000


class Watchdog(_ticker.Ticker):
    """A daemon thread sending ``WATCHDOG=1`` every half interval until ``stop()``.

    Created by ``start_watchdog()``. While ``is_healthy()`` returns False (or
    raises) no ping is sent, so systemd restarts a service that is stuck for longer
    than WatchdogSec; the change of health is logged, not every skipped ping.
    """

    def __init__(self, interval: float, is_healthy: Callable[[], bool] | None = None) -> None:
        if isinstance(interval, bool) or not isinstance(interval, (int, float)):
            raise TypeError(f"interval must be a number of seconds, got {interval!r}")
        if not (interval > 0 and math.isfinite(interval)):
            raise ValueError(f"interval must be a positive number of seconds, got {interval!r}")
        if is_healthy is not None and not callable(is_healthy):
            raise TypeError(f"is_healthy must be callable or None, got {is_healthy!r}")
        super().__init__(interval / 2, name="systemd-watchdog", tick_at_start=True)
        self.interval = float(interval)
        self._is_healthy = is_healthy
        self._healthy = True
        self.pings = 0

    def _check_health(self) -> bool:
        if self._is_healthy is None:
            return True
        try:
            return bool(self._is_healthy())
        except Exception:
            LOG.exception("Watchdog health check failed; counted as unhealthy")
            return False

    def tick(self) -> None:
        healthy = self._check_health()
        if healthy != self._healthy:
            self._healthy = healthy
            if healthy:
                LOG.info("Service healthy again: resuming systemd watchdog pings")
            else:
                LOG.warning(
                    "Service unhealthy: not pinging the systemd watchdog; systemd "
                    "acts (restarts the service) if this lasts %.1f s",
                    self.interval,
                )
        if healthy and notify_state(WATCHDOG):
            self.pings += 1


def start_watchdog(is_healthy: Callable[[], bool] | None = None) -> Watchdog | None:
    """Ping systemd's watchdog from a daemon thread if systemd asked for it.

    Returns the running Watchdog (call ``.stop()`` at shutdown), or None when
    WATCHDOG_USEC is unset or meant for another process. Call it in the master
    (systemd's main PID). ``is_healthy`` runs in the watchdog thread before each
    ping; pings are skipped while it returns False.
    """
    if is_healthy is not None and not callable(is_healthy):
        raise TypeError(f"is_healthy must be callable or None, got {is_healthy!r}")
    interval = watchdog_interval()
    if interval is None:
        return None
    watchdog = Watchdog(interval, is_healthy)
    watchdog.start()
    LOG.debug("Pinging the systemd watchdog every %.3f s", interval / 2)
    return watchdog
