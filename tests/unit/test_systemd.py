import logging
import os
import socket
import threading
import time
import uuid

import pytest

from oslo_threading_backend import systemd

WAIT = 5.0


@pytest.fixture
def clean_env(monkeypatch):
    for name in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.fixture
def listener(tmp_path, clean_env):
    """A real datagram socket standing in for systemd, named by NOTIFY_SOCKET."""
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(WAIT)
    clean_env.setenv("NOTIFY_SOCKET", path)
    yield sock
    sock.close()


@pytest.fixture
def abstract_listener(clean_env):
    name = f"oslo-threading-test-{uuid.uuid4().hex}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.settimeout(WAIT)
    clean_env.setenv("NOTIFY_SOCKET", "@" + name)
    yield sock
    sock.close()


def test_notify_sends_ready_and_keeps_the_variable(listener):
    assert systemd.notify() is True
    assert listener.recv(4096) == b"READY=1"
    assert "NOTIFY_SOCKET" in os.environ


def test_notify_once_removes_the_variable(listener):
    assert systemd.notify_once() is True
    assert listener.recv(4096) == b"READY=1"
    assert "NOTIFY_SOCKET" not in os.environ
    # A second call has nowhere to send.
    assert systemd.notify_once() is False


def test_abstract_namespace_socket(abstract_listener):
    assert systemd.notify_state(systemd.STOPPING) is True
    assert abstract_listener.recv(4096) == b"STOPPING=1"


def test_notify_state_messages(listener):
    assert systemd.notify_state(systemd.status_state("serving\n3 workers")) is True
    assert listener.recv(4096) == b"STATUS=serving 3 workers"
    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    assert systemd.notify_state(systemd.reloading_state()) is True
    lines = listener.recv(4096).decode().split("\n")
    after = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    assert lines[0] == "RELOADING=1"
    key, _, usec = lines[1].partition("=")
    assert key == "MONOTONIC_USEC" and before <= int(usec) <= after


def test_notify_state_unset_environment(listener):
    assert systemd.notify_state("READY=1", unset_environment=True) is True
    assert listener.recv(4096) == b"READY=1"
    assert "NOTIFY_SOCKET" not in os.environ


def test_without_notify_socket_nothing_is_sent(clean_env):
    assert systemd.notify() is False
    assert systemd.notify_once() is False
    assert systemd.notify_state("READY=1") is False


def test_failed_send_returns_false_logs_debug_and_keeps_variable(tmp_path, clean_env, caplog):
    caplog.set_level(logging.DEBUG, logger=systemd.__name__)
    clean_env.setenv("NOTIFY_SOCKET", str(tmp_path / "nobody-listens.sock"))
    assert systemd.notify_once() is False
    assert systemd.notify_state("STOPPING=1") is False
    assert "NOTIFY_SOCKET" in os.environ
    failures = [r for r in caplog.records if "notification" in r.getMessage()]
    assert failures and all(r.levelno == logging.DEBUG for r in failures)


@pytest.mark.parametrize("state", [b"READY=1", None, 1])
def test_notify_state_rejects_non_str(state, clean_env):
    with pytest.raises(TypeError, match="state must be a str"):
        systemd.notify_state(state)


@pytest.mark.parametrize("state", ["", "  ", "READY"])
def test_notify_state_rejects_bad_values(state, clean_env):
    with pytest.raises(ValueError, match="state must"):
        systemd.notify_state(state)


def test_onready_receives_ready(tmp_path, clean_env):
    path = str(tmp_path / "onready.sock")
    results = []
    waiter = threading.Thread(target=lambda: results.append(systemd.onready(path, WAIT)))
    waiter.start()
    try:
        clean_env.setenv("NOTIFY_SOCKET", path)
        deadline = time.monotonic() + WAIT
        # Retry until onready has bound its socket (a send before that fails).
        while not systemd.notify():
            assert time.monotonic() < deadline, "onready never bound its socket"
            time.sleep(0.005)
    finally:
        waiter.join(WAIT)
    assert results == [0]
    assert not os.path.exists(path)


def test_onready_abstract_not_ready_message(clean_env):
    name = "@" + f"oslo-threading-onready-{uuid.uuid4().hex}"
    results = []
    waiter = threading.Thread(target=lambda: results.append(systemd.onready(name, WAIT)))
    waiter.start()
    try:
        clean_env.setenv("NOTIFY_SOCKET", name)
        deadline = time.monotonic() + WAIT
        while not systemd.notify_state("STATUS=starting"):
            assert time.monotonic() < deadline, "onready never bound its socket"
            time.sleep(0.005)
    finally:
        waiter.join(WAIT)
    assert results == [1]


def test_onready_timeout(tmp_path):
    assert systemd.onready(str(tmp_path / "quiet.sock"), 0.01) == 2


@pytest.mark.parametrize(
    "args, error",
    [
        (("", 1.0), TypeError),
        ((None, 1.0), TypeError),
        (("@x", "1"), TypeError),
        (("@x", 0), ValueError),
    ],
)
def test_onready_bad_arguments(args, error):
    with pytest.raises(error):
        systemd.onready(*args)


def test_watchdog_interval(clean_env):
    assert systemd.watchdog_interval() is None
    clean_env.setenv("WATCHDOG_USEC", "3000000")
    assert systemd.watchdog_interval() == 3.0
    clean_env.setenv("WATCHDOG_PID", str(os.getpid()))
    assert systemd.watchdog_interval() == 3.0
    # Inherited by a forked worker: meant for the master, not for us.
    clean_env.setenv("WATCHDOG_PID", str(os.getpid() + 1))
    assert systemd.watchdog_interval() is None
    clean_env.setenv("WATCHDOG_PID", "nope")
    assert systemd.watchdog_interval() is None
    clean_env.delenv("WATCHDOG_PID")
    for bad in ("0", "-5", "soon"):
        clean_env.setenv("WATCHDOG_USEC", bad)
        assert systemd.watchdog_interval() is None


def test_start_watchdog_without_systemd_returns_none(clean_env):
    assert systemd.start_watchdog() is None


def test_start_watchdog_rejects_non_callable(clean_env):
    with pytest.raises(TypeError, match="is_healthy"):
        systemd.start_watchdog(is_healthy=True)


def recv_or_none(sock, timeout):
    sock.settimeout(timeout)
    try:
        return sock.recv(4096)
    except TimeoutError:
        return None
    finally:
        sock.settimeout(WAIT)


def test_watchdog_pings_until_stopped(listener, clean_env):
    clean_env.setenv("WATCHDOG_USEC", "100000")  # 0.1 s: a ping every 0.05 s
    watchdog = systemd.start_watchdog()
    assert watchdog is not None
    try:
        assert watchdog.interval == pytest.approx(0.1)
        assert [listener.recv(4096) for _ in range(3)] == [b"WATCHDOG=1"] * 3
    finally:
        assert watchdog.stop(WAIT) is True
    assert not watchdog.is_alive()
    # Drain what was sent before stop(); then nothing more arrives.
    while recv_or_none(listener, 0.01) is not None:
        pass
    assert recv_or_none(listener, 0.15) is None


def test_watchdog_stop_is_immediate(listener, clean_env):
    clean_env.setenv("WATCHDOG_USEC", str(3600 * 1_000_000))
    watchdog = systemd.start_watchdog()
    assert listener.recv(4096) == b"WATCHDOG=1"
    started = time.monotonic()
    assert watchdog.stop(WAIT) is True
    assert time.monotonic() - started < 1.0
    assert watchdog.stop() is True  # again: harmless


def test_watchdog_skips_pings_while_unhealthy(listener, clean_env, caplog):
    caplog.set_level(logging.INFO, logger=systemd.__name__)
    clean_env.setenv("WATCHDOG_USEC", "100000")
    healthy = threading.Event()
    checks = threading.Semaphore(0)

    def is_healthy():
        checks.release()
        return healthy.is_set()

    watchdog = systemd.start_watchdog(is_healthy)
    try:
        # Several health checks went by without a single ping.
        for _ in range(3):
            assert checks.acquire(timeout=WAIT)
        assert recv_or_none(listener, 0.01) is None
        assert watchdog.pings == 0
        healthy.set()
        assert listener.recv(4096) == b"WATCHDOG=1"
    finally:
        watchdog.stop(WAIT)
    messages = [r.getMessage() for r in caplog.records]
    assert any("unhealthy" in m for m in messages)
    assert any("healthy again" in m for m in messages)


def test_watchdog_health_check_that_raises_counts_as_unhealthy(listener, clean_env, caplog):
    clean_env.setenv("WATCHDOG_USEC", "100000")
    called = threading.Event()

    def broken():
        called.set()
        raise RuntimeError("db gone")

    watchdog = systemd.start_watchdog(broken)
    try:
        assert called.wait(WAIT)
        assert recv_or_none(listener, 0.1) is None
    finally:
        watchdog.stop(WAIT)
    assert any(r.exc_info and "db gone" in str(r.exc_info[1]) for r in caplog.records)


@pytest.mark.parametrize(
    "interval, error", [(0, ValueError), (float("inf"), ValueError), ("1", TypeError)]
)
def test_watchdog_rejects_bad_interval(interval, error):
    with pytest.raises(error, match="interval"):
        systemd.Watchdog(interval)
