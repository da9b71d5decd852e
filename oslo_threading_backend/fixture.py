"""Test fixtures for code built on oslo_threading_backend."""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from unittest import mock

import fixtures

from oslo_threading_backend import loopingcall
from oslo_threading_backend._processes import procfs as _procfs

__all__ = ["ServiceFixture", "SleepFixture", "process_title"]

#: A process title as ps shows it, read from /proc.
process_title = _procfs.process_title


class SleepFixture(fixtures.Fixture):
    """Make looping calls' waits return at once, recording what they asked for.

    Replaces ``LoopingCallBase._sleep``, the one method every wait of a looping
    call goes through (initial delay, intervals, RetryDecorator's back-off), so
    code that loops does not spend wall-clock time in tests. oslo.service's
    fixture patches an eventlet event and has no effect on native threads.

    ``mock_wait`` is a ``unittest.mock.Mock`` called with each wait's timeout in
    seconds, e.g. ``mock_wait.assert_has_calls([mock.call(2), mock.call(4)])``.
    Give it a ``side_effect`` to act on each wait. ``stop()`` still ends a
    loop: the loop checks its stop flag after every wait.

    Example::

        def setUp(self):
            super().setUp()
            self.sleepfx = self.useFixture(fixture.SleepFixture())

        def test_this(self):
            thing_that_hits_a_loopingcall()
            self.assertEqual(5, self.sleepfx.mock_wait.call_count)
    """

    def _setUp(self) -> None:
        # A Mock is not a descriptor: instance._sleep(t) calls it with (t) only.
        self.mock_wait = mock.Mock(name="wait", return_value=None)
        self.useFixture(
            fixtures.MockPatchObject(loopingcall.LoopingCallBase, "_sleep", self.mock_wait)
        )


class ServiceFixture(fixtures.Fixture):
    """Run a service in real forked workers from a consumer's functional test.

    Starts ``python -m oslo_threading_backend FACTORY --workers N`` (or any
    ``command``) in a new session, with a systemd notify socket of its own, and
    ``setUp()`` returns once the master has sent ``READY=1``: every worker has
    started. That is an event, not a sleep. Cleanup kills every process the run
    started, even when the test failed. Works with testtools' ``useFixture``
    and as a context manager (``with ServiceFixture(...) as svc:``) in pytest.

    Example::

        def test_sigterm_stops_every_worker(self):
            svc = self.useFixture(fixture.ServiceFixture(
                "myservice.cmd:make_service", workers=2,
                config={"DEFAULT": {"graceful_shutdown_timeout": 10}}))
            before = svc.worker_pids()
            svc.send_signal(signal.SIGTERM)
            self.assertEqual(0, svc.wait())
            svc.wait_gone(before.values())
    """

    def __init__(
        self,
        factory: str | None = None,
        workers: int = 2,
        config: Mapping[str, Mapping[str, object]] | None = None,
        args: Sequence[str] = (),
        command: Sequence[str] | None = None,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        wait_ready: bool = True,
        start_timeout: float = 30.0,
    ) -> None:
        if (factory is None) == (command is None):
            raise ValueError(
                "ServiceFixture needs exactly one of factory ('MODULE:FACTORY') or command"
            )
        if factory is not None and (not isinstance(factory, str) or ":" not in factory):
            raise ValueError(f"factory must be a 'MODULE:FACTORY' string, not {factory!r}")
        if not isinstance(workers, int) or isinstance(workers, bool):
            raise TypeError(f"workers must be an int >= 1, not {workers!r}")
        if workers < 1:
            raise ValueError(f"workers must be an int >= 1, not {workers!r}")
        _check_seconds("start_timeout", start_timeout)
        self.factory = factory
        self.workers = workers
        self.config = config
        self.args = list(args)
        self.command = list(command) if command is not None else None
        self.env = dict(env or {})
        self.cwd = cwd
        self.wait_ready = wait_ready
        self.start_timeout = start_timeout
        self.popen: subprocess.Popen[bytes] | None = None
        self.notifications: list[str] = []
        self._notified = threading.Condition()
        self._seen_pids: set[int] = set()

    # Start and end ----------------------------------------------------------
    def _setUp(self) -> None:
        self.workdir = self.useFixture(fixtures.TempDir()).path
        self.log_path = os.path.join(self.workdir, "service.log")
        self.config_path = os.path.join(self.workdir, "service.conf")
        if self.config is not None:
            self.write_config(self.config)
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.addCleanup(self._socket.close)
        notify_path = os.path.join(self.workdir, "notify.sock")
        self._socket.bind(notify_path)
        threading.Thread(
            target=self._read_notifications, name="service-fixture-notify", daemon=True
        ).start()

        env = dict(os.environ)
        env.update(self.env)
        env.update(PYTHONUNBUFFERED="1", NOTIFY_SOCKET=notify_path)
        with open(self.log_path, "wb") as log:
            self.popen = subprocess.Popen(
                self._argv(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                cwd=self.cwd or self.workdir,
                start_new_session=True,
            )
        self._seen_pids.add(self.popen.pid)
        self.addCleanup(self.kill_all)
        if self.wait_ready:
            self.wait_for_notification("READY=1", self.start_timeout)

    def _argv(self) -> list[str]:
        config = ["--config-file", self.config_path] if self.config is not None else []
        if self.command is not None:
            return [*self.command, *config, *self.args]
        return [
            sys.executable,
            "-m",
            "oslo_threading_backend",
            str(self.factory),
            "--workers",
            str(self.workers),
            *config,
            *self.args,
        ]

    def write_config(self, config: Mapping[str, Mapping[str, object]]) -> None:
        """(Re)write the config file the service reads; send SIGHUP to apply it.

        The service reads a config file only if the fixture was given ``config``
        (``{}`` for an empty one to rewrite later).
        """
        lines = []
        for section, values in config.items():
            lines.append(f"[{section}]")
            lines.extend(f"{key} = {value}" for key, value in values.items())
        with open(self.config_path, "w") as f:
            f.write("\n".join(lines) + "\n")

    def kill_all(self) -> None:
        """SIGKILL every process of the run (its session), then reap the master."""
        if self.popen is None:
            return
        pids = self._seen_pids | set(_procfs.children(self.popen.pid))
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(10)

    # What a test reads ------------------------------------------------------
    @property
    def master_pid(self) -> int:
        assert self.popen is not None, "ServiceFixture is not set up"
        return self.popen.pid

    def worker_pids(self) -> dict[int, int]:
        """{worker number: pid} of the live workers, read from their process titles."""
        found = {}
        for pid in _procfs.children(self.master_pid):
            match = re.search(r" worker\((\d+)\)", _procfs.process_title(pid) or "")
            if match:
                found[int(match.group(1))] = pid
                self._seen_pids.add(pid)
        return found

    def titles(self) -> dict[int, str]:
        """{pid: title} of the master and its live children, as ps shows them."""
        pids = [self.master_pid, *_procfs.children(self.master_pid)]
        return {pid: title for pid in pids if (title := _procfs.process_title(pid)) is not None}

    def log(self) -> str:
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def _read_notifications(self) -> None:
        while True:
            try:
                data = self._socket.recv(4096)
            except OSError:
                return
            with self._notified:
                self.notifications.extend(data.decode(errors="replace").splitlines())
                self._notified.notify_all()

    def wait_for_notification(self, state: str, timeout: float = 30.0) -> None:
        """Wait until the service sent ``state`` (e.g. "READY=1") to its notify socket."""
        deadline = time.monotonic() + timeout
        with self._notified:
            while state not in self.notifications:
                if self.popen is not None and self.popen.poll() is not None:
                    raise AssertionError(
                        f"service exited with {self.popen.returncode} before sending {state}; "
                        f"log:\n{self.log()}"
                    )
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"no {state} within {timeout} s; log:\n{self.log()}")
                self._notified.wait(min(remaining, 0.1))

    # What a test does -------------------------------------------------------
    def send_signal(self, sig: int, pid: int | None = None) -> None:
        os.kill(self.master_pid if pid is None else pid, sig)

    def wait(self, timeout: float = 30.0) -> int:
        """The master's exit code; AssertionError (with the log) if it runs past ``timeout``."""
        assert self.popen is not None, "ServiceFixture is not set up"
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"service still running after {timeout} s; log:\n{self.log()}"
            ) from None

    def wait_gone(self, pids: Iterable[int], timeout: float = 30.0) -> None:
        """Wait until none of ``pids`` is alive (zombies count as gone)."""
        pids = list(pids)
        deadline = time.monotonic() + timeout
        while any(_procfs.is_alive(pid) for pid in pids):
            if time.monotonic() > deadline:
                alive = [pid for pid in pids if _procfs.is_alive(pid)]
                raise AssertionError(f"processes {alive} still alive after {timeout} s")
            time.sleep(0.02)


def _check_seconds(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number of seconds, not {value!r}")
    if value <= 0:
        raise ValueError(f"{name} must be a number of seconds > 0, not {value!r}")
