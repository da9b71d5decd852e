"""One RPC test run: the service in 2 forked workers and RPC clients in another process.

The service is ``tests/integration/programs/rpc_app.py`` started by the runner
(``python -m oslo_threading_backend``) under ``oslo_threading_backend.fixture.ServiceFixture``;
its workers count the calls they take and answer in an events file. The clients,
``programs/rpc_client.py``, count what they sent and what came back in a results
file. Every wait polls with a deadline; ``close()`` ends every process.
"""

from __future__ import annotations

import collections
import contextlib
import os
import pathlib
import re
import signal
import subprocess
import sys
import uuid

from oslo_threading_backend import fixture
from tests.functional import harness as functional_harness
from tests.integration.broker import RabbitBroker

REPO = pathlib.Path(__file__).resolve().parents[2]
PROGRAMS = pathlib.Path(__file__).parent / "programs"
FACTORY = "tests.integration.programs.rpc_app:create_service"
DEFAULT_TIMEOUT = 30.0


def poll(predicate, timeout=DEFAULT_TIMEOUT, interval=0.05, what="condition"):
    """The functional tier's poll(), with this tier's longer default (broker round trips)."""
    return functional_harness.poll(predicate, timeout, interval, what)


def read_lines(path: pathlib.Path) -> list[tuple[str, dict[str, str]]]:
    """("name", {key: value}) for each complete line of an events or results file."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return []
    found = []
    for line in text.splitlines(keepends=True):
        if not line.endswith("\n"):
            break  # a line being written
        head, *pairs = line.split()
        found.append((head, dict(pair.split("=", 1) for pair in pairs)))
    return found


def _env() -> dict[str, str]:
    path = os.environ.get("PYTHONPATH")
    return {"PYTHONPATH": f"{REPO}{os.pathsep}{path}" if path else str(REPO)}


class Clients:
    """One run of rpc_client.py: ``--clients`` threads streaming calls."""

    def __init__(self, workdir: pathlib.Path, argv: list[str]) -> None:
        self.results_path = workdir / "results.txt"
        self.stop_path = workdir / "stop"
        self.log_path = workdir / "client.log"
        env = dict(os.environ)
        env.update(_env())
        with open(self.log_path, "wb") as log:
            self.popen = subprocess.Popen(
                [
                    sys.executable,
                    str(PROGRAMS / "rpc_client.py"),
                    "--results",
                    str(self.results_path),
                    "--stop-file",
                    str(self.stop_path),
                    *argv,
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                cwd=workdir,
                start_new_session=True,
            )

    def lines(self, name: str | None = None) -> list[dict[str, str]]:
        return [f for head, f in read_lines(self.results_path) if name is None or head == name]

    def answered(self) -> list[dict[str, str]]:
        return self.lines("ok")

    def wait_for_answers(self, count: int, timeout: float = DEFAULT_TIMEOUT, **match: str):
        def enough():
            exited = self.popen.poll() is not None
            found = [a for a in self.answered() if all(a.get(k) == v for k, v in match.items())]
            if len(found) >= count:
                return found
            if exited:
                raise AssertionError(
                    f"clients exited after {len(found)} of {count} answers:\n{self.log()}"
                )
            return None

        return poll(enough, timeout, what=f"{count} answers {match or ''}")

    def finish(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Ask the clients to stop after their current call; wait until they exited."""
        self.stop_path.touch()
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"clients still running after {timeout} s:\n{self.log()}"
            ) from None
        assert self.popen.returncode == 0, f"clients exited {self.popen.returncode}:\n{self.log()}"
        assert self.lines("done"), f"clients did not finish:\n{self.log()}"

    def outcomes(self) -> dict[str, list[tuple[str, dict[str, str]]]]:
        """{call id: [("ok"|"error", fields), ...]} for every call sent."""
        found: dict[str, list] = {}
        for head, fields in read_lines(self.results_path):
            if head == "sent":
                found.setdefault(fields["id"], [])
            elif head in ("ok", "error"):
                found.setdefault(fields["id"], []).append((head, fields))
        return found

    def log(self) -> str:
        with contextlib.suppress(OSError):
            return self.log_path.read_text(errors="replace")
        return ""

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(10)


class RpcRun:
    """The service (2 workers by default) and the clients of one test, on one topic."""

    def __init__(self, broker: RabbitBroker, workdir: pathlib.Path, name: str) -> None:
        self.broker = broker
        self.workdir = workdir
        workdir.mkdir(parents=True)
        self.topic = f"itest-{re.sub(r'[^A-Za-z0-9]+', '-', name)[:40]}-{uuid.uuid4().hex[:8]}"
        self.events_path = workdir / "events.txt"
        self.service: fixture.ServiceFixture | None = None  # the last one started
        self.services: list[fixture.ServiceFixture] = []
        self.clients: list[Clients] = []
        self.service_args: list[str] = []

    def config(
        self,
        tag: str = "before",
        graceful_shutdown_timeout: int = 20,
        executor: str = "native",
        preload_driver: bool = True,
        defaults: dict | None = None,
    ) -> dict:
        return {
            "DEFAULT": {
                "transport_url": self.broker.url,
                "graceful_shutdown_timeout": graceful_shutdown_timeout,
                **(defaults or {}),
            },
            "oslo_messaging_rabbit": {
                # Reconnect within a second or two of a broker restart.
                "rabbit_retry_interval": 1,
                "rabbit_retry_backoff": 1,
                "rabbit_interval_max": 2,
            },
            "rpc_app": {
                "events": self.events_path,
                "topic": self.topic,
                "tag": tag,
                "executor": executor,
                "preload_driver": preload_driver,
            },
        }

    # The service ----------------------------------------------------------------
    def start_service(
        self,
        workers: int = 2,
        restart_method: str = "mutate",
        factory: str = FACTORY,
        sections: dict | None = None,
        **config,
    ) -> fixture.ServiceFixture:
        """``sections``: more config sections ({name: {option: value}}) for the factory."""
        service = fixture.ServiceFixture(
            factory,
            workers=workers,
            config={**self.config(**config), **(sections or {})},
            args=["--restart-method", restart_method, *self.service_args],
            env=_env(),
            cwd=str(self.workdir),
            start_timeout=60.0,
        )
        service.setUp()  # at READY=1: every start() returned; on failure all is ended
        self.service = service
        self.services.append(service)
        return service

    def rewrite_config(self, **config) -> None:
        assert self.service is not None
        self.service.write_config(self.config(**config))

    def events(self, name: str | None = None) -> list[dict[str, str]]:
        return [f for head, f in read_lines(self.events_path) if name is None or head == name]

    def wait_for_events(self, name: str, count: int, timeout: float = DEFAULT_TIMEOUT, **match):
        def enough():
            found = [e for e in self.events(name) if all(e.get(k) == v for k, v in match.items())]
            return found if len(found) >= count else None

        return poll(enough, timeout, what=f"{count} {name!r} events {match or ''}")

    def wait_for_workers(self, predicate, timeout: float = DEFAULT_TIMEOUT) -> dict[int, int]:
        assert self.service is not None
        return poll(
            lambda: (w := self.service.worker_pids()) and predicate(w) and w,
            timeout,
            what="workers matching the predicate",
        )

    def server_counts(self) -> tuple[collections.Counter, collections.Counter]:
        """(times each call id was taken, times each call id was answered) by the workers."""
        taken = collections.Counter(e["id"] for e in self.events("taken"))
        answered = collections.Counter(e["id"] for e in self.events("answered"))
        return taken, answered

    # The clients ----------------------------------------------------------------
    def start_clients(
        self,
        clients: int = 4,
        seconds: float = 0.02,
        timeout: float = 15.0,
        max_seconds: float = 90.0,
        calls: int = 0,
        prefix: str = "c",
    ) -> Clients:
        workdir = self.workdir / f"clients{len(self.clients)}"
        workdir.mkdir()
        run = Clients(
            workdir,
            [
                "--url",
                self.broker.url,
                "--topic",
                self.topic,
                "--prefix",
                prefix,
                "--clients",
                str(clients),
                "--calls",
                str(calls),
                "--seconds",
                str(seconds),
                "--timeout",
                str(timeout),
                "--max-seconds",
                str(max_seconds),
            ],
        )
        self.clients.append(run)
        return run

    def in_flight(self) -> dict[str, str]:
        """{call id: pid} of the calls a worker has taken and not answered yet."""
        taken = {e["id"]: e["pid"] for e in self.events("taken")}
        for e in self.events("answered"):
            taken.pop(e["id"], None)
        return taken

    def report(self) -> str:
        """The service's and the clients' logs, for a failed test's output."""
        parts = []
        for number, service in enumerate(self.services):
            parts.append(f"--- service{number} log (tail)\n" + service.log()[-8000:])
        for number, run in enumerate(self.clients):
            parts.append(f"--- clients{number} log (tail)\n" + run.log()[-4000:])
        return "\n".join(parts)

    def close(self) -> None:
        for run in self.clients:
            run.kill()
        for service in self.services:
            service.cleanUp()  # SIGKILL to the service's session, master reaped
