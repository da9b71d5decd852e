"""Start a real service program, read its events, titles and logs, send it signals.

A ServiceProcess is a thin layer over ``oslo_threading_backend.fixture.ServiceFixture``
(the fixture consumers use) that adds the test programs' event files. Nothing
here mocks cotyledon: the program forks real workers, titles are read from
/proc, and every wait polls with a deadline.
"""

from __future__ import annotations

import pathlib
import re
import sys
import time

from oslo_threading_backend import fixture
from oslo_threading_backend._processes import procfs as _procfs

PROGRAMS = pathlib.Path(__file__).parent / "programs"
DEFAULT_TIMEOUT = 20.0
DEFAULT_CONFIG = {"DEFAULT": {"graceful_shutdown_timeout": 10}}


class Timeout(AssertionError):
    pass


def poll(predicate, timeout=DEFAULT_TIMEOUT, interval=0.02, what="condition"):
    """Return predicate()'s first truthy value, or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise Timeout(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


process_title = _procfs.process_title
children = _procfs.children


class Event(dict):
    @property
    def name(self) -> str:
        return self["_name"]

    @property
    def pid(self) -> int:
        return int(self["pid"])


class ServiceProcess:
    """One run of a program under tests/functional/programs."""

    def __init__(self, workdir: pathlib.Path, program: str = "service_app.py") -> None:
        self.workdir = workdir
        self.program = PROGRAMS / program
        self.events_path = workdir / "events.txt"
        self.extra_env: dict[str, str] = {}
        #: Run the program through this command (e.g. ``oslo-threading-exec``).
        self.command_prefix: list[str] = []
        self.fixture: fixture.ServiceFixture | None = None

    def _command(self, args: tuple[str, ...]) -> list[str]:
        return [
            *self.command_prefix,
            sys.executable,
            str(self.program),
            "--events",
            str(self.events_path),
            "--debug",
            *args,
        ]

    def start(
        self, *args: str, config: dict | None = None, wait_ready: bool = False
    ) -> ServiceProcess:
        """Start the program; with ``wait_ready`` return once every worker has started."""
        return self._launch(
            self._command(args), config or DEFAULT_CONFIG, wait_ready, self.extra_env
        )

    def _launch(self, command, config, wait_ready, env=None) -> ServiceProcess:
        run = fixture.ServiceFixture(
            command=command, config=config, cwd=str(self.workdir), env=env, wait_ready=wait_ready
        )
        run.setUp()  # on failure the fixture has already ended what it started
        self.fixture = run
        return self

    @property
    def popen(self):
        return self.fixture.popen if self.fixture is not None else None

    @property
    def pid(self) -> int:
        assert self.fixture is not None
        return self.fixture.master_pid

    @property
    def config_path(self) -> pathlib.Path:
        assert self.fixture is not None, "the config file exists once the run started"
        return pathlib.Path(self.fixture.config_path)

    def write_config(self, **sections: dict) -> None:
        assert self.fixture is not None, "write_config() rewrites a started run's config"
        self.fixture.write_config(sections)

    # Reading -------------------------------------------------------------
    def events(self, name: str | None = None, **match: str) -> list[Event]:
        try:
            lines = self.events_path.read_text().splitlines()
        except FileNotFoundError:
            return []
        found = []
        for line in lines:
            head, *pairs = line.split()
            event = Event(pair.split("=", 1) for pair in pairs)
            event["_name"] = head
            if name is not None and head != name:
                continue
            if all(event.get(k) == str(v) for k, v in match.items()):
                found.append(event)
        return found

    def wait_for_events(
        self, name: str, count: int = 1, timeout: float = DEFAULT_TIMEOUT, **match
    ) -> list[Event]:
        def enough():
            self._fail_if_exited_early()
            found = self.events(name, **match)
            return found if len(found) >= count else None

        return poll(enough, timeout, what=f"{count} {name!r} event(s) {match or ''}")

    def _fail_if_exited_early(self) -> None:
        if self.popen is not None and self.popen.poll() is not None:
            raise AssertionError(
                f"service exited with {self.popen.returncode} too early; log:\n{self.log()}"
            )

    def log(self) -> str:
        return self.fixture.log() if self.fixture is not None else ""

    def wait_for_log(self, pattern: str, timeout: float = DEFAULT_TIMEOUT) -> re.Match:
        regex = re.compile(pattern)
        return poll(lambda: regex.search(self.log()), timeout, what=f"log line /{pattern}/")

    def workers(self) -> dict[int, int]:
        """{worker number: pid} of the live workers, read from their process titles."""
        return self.fixture.worker_pids()

    def wait_for_workers_matching(
        self, predicate, timeout: float = DEFAULT_TIMEOUT
    ) -> dict[int, int]:
        def ready():
            self._fail_if_exited_early()
            workers = self.workers()
            return workers if predicate(workers) else None

        return poll(ready, timeout, what="workers matching the predicate")

    def wait_for_workers(self, count: int, timeout: float = DEFAULT_TIMEOUT) -> dict[int, int]:
        return self.wait_for_workers_matching(lambda w: len(w) == count, timeout)

    # Acting --------------------------------------------------------------
    def send(self, sig: int, pid: int | None = None) -> None:
        self.fixture.send_signal(sig, pid)

    def wait_exit(self, timeout: float = DEFAULT_TIMEOUT) -> int:
        return self.fixture.wait(timeout)

    def wait_gone(self, pids, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.fixture.wait_gone(pids, timeout)

    def kill_all(self) -> None:
        """End every process this run started, whatever state the test left it in."""
        if self.fixture is not None:
            self.fixture.cleanUp()
