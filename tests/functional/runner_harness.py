"""Run ``python -m oslo_threading_backend`` (the runner) the way a user does.

``RunnerProcess`` is a ServiceProcess whose program is the runner, started in
its own working directory: the demo keeps its state in ``./demo-state`` there,
which the tests read directly (SQLite). ``make_echo_service`` is a target for
the runner tests (``tests.functional.runner_harness:make_echo_service``).
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterator
import os
import pathlib
import sqlite3
import subprocess
import sys
import time

from oslo_config import cfg
import pytest

from oslo_threading_backend import service
from tests.functional.harness import ServiceProcess

REPO = pathlib.Path(__file__).resolve().parents[2]
RUNNER = [sys.executable, "-m", "oslo_threading_backend"]


def runner_env() -> dict[str, str]:
    # The working directory is a temporary one: make ``tests`` importable for targets.
    path = [str(REPO)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    return dict(os.environ, PYTHONUNBUFFERED="1", PYTHONPATH=os.pathsep.join(path))


def fresh_shell_env() -> dict[str, str]:
    """runner_env() with a PATH as after the README's first command: no venv on it.

    tox puts its environment's bin directory first on PATH, where a new
    terminal would not have it.
    """
    venv_bin = os.path.dirname(os.path.abspath(sys.executable))
    path = os.environ.get("PATH", os.defpath).split(os.pathsep)
    kept = [p for p in path if p and os.path.abspath(p) != venv_bin]
    return dict(runner_env(), PATH=os.pathsep.join(kept))


def console_script() -> str:
    """The installed ``oslo-threading-run`` next to this interpreter (skip the test if none)."""
    path = os.path.join(os.path.dirname(sys.executable), "oslo-threading-run")
    if not os.path.isfile(path):
        pytest.skip(f"oslo-threading-run is not installed next to {sys.executable}")
    return path


def run_command(
    *args: str,
    cwd: pathlib.Path,
    timeout: float = 30,
    command: list[str] | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess:
    """Run the runner (or ``command``) to its end (``--help``, ``demo-submit``, a bad target)."""
    return subprocess.run(
        [*(RUNNER if command is None else command), *args],
        cwd=cwd,
        env=runner_env() if env is None else env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


class RunnerProcess(ServiceProcess):
    """One run of the runner as a long-lived service."""

    def __init__(self, workdir: pathlib.Path) -> None:
        super().__init__(workdir)
        self.state_dir = workdir / "demo-state"
        self.args: list[str] = []

    def start(
        self,
        *args: str,
        config: dict | None = None,
        command: list[str] | None = None,
        env: dict[str, str] | None = None,
    ) -> RunnerProcess:
        """Start ``python -m oslo_threading_backend ARGS``, with ``--config-file`` if config.

        ``command`` replaces ``python -m oslo_threading_backend`` (the console
        script, say); ``env`` replaces runner_env().
        """
        self.args = list(args)
        self._launch(
            [*(RUNNER if command is None else command), *self.args],
            config,
            wait_ready=False,
            env=runner_env() if env is None else env,
        )
        return self

    def submit(self, count: int) -> None:
        """``demo-submit COUNT`` with this run's config file, if it has one."""
        has_config = self.fixture is not None and self.fixture.config is not None
        extra = ["--config-file", str(self.config_path)] if has_config else []
        done = run_command("demo-submit", str(count), *extra, cwd=self.workdir)
        assert done.returncode == 0, done.stderr

    # The demo's state ---------------------------------------------------------
    def query(self, db: str, sql: str, *params) -> list[tuple]:
        conn = sqlite3.connect(self.state_dir / db, timeout=10)
        try:
            return conn.execute(sql, params).fetchall()
        finally:
            conn.close()

    def requests(self) -> dict[int, dict]:
        """Every request of the queue, by id: state, owner_pid, attempts, cell, host, ..."""
        conn = sqlite3.connect(self.state_dir / "requests.sqlite", timeout=10)
        conn.row_factory = sqlite3.Row
        try:
            return {row["id"]: dict(row) for row in conn.execute("SELECT * FROM requests")}
        finally:
            conn.close()

    def used_slots(self) -> dict[str, int]:
        """Slots in use in each cell, summed over its hosts."""
        return {
            path.stem: self.query(path.name, "SELECT total(used) FROM hosts")[0][0]
            for path in sorted(self.state_dir.glob("cell*.sqlite"))
        }

    def all_done(self, count: int) -> dict[int, dict] | None:
        requests = self.requests()
        done = [r for r in requests.values() if r["state"] == "done"]
        return requests if len(requests) == count and len(done) == count else None


def assert_scheduled_exactly_once(run: RunnerProcess, count: int) -> dict[int, dict]:
    """Every request is done and placed on a host, and exactly ``count`` slots are used."""
    requests = run.requests()
    assert sorted(requests) == list(range(1, count + 1))
    assert {r["state"] for r in requests.values()} == {"done"}
    assert all(r["host"] for r in requests.values()), requests
    # One slot per request: a request claimed twice would use two.
    assert sum(run.used_slots().values()) == count
    placed = {}
    for r in requests.values():
        placed.setdefault(r["cell"], 0)
        placed[r["cell"]] += 1
    assert placed == {cell: used for cell, used in run.used_slots().items() if used}
    return requests


def runner_processes(tmp_path: pathlib.Path) -> Iterator[Callable[..., RunnerProcess]]:
    """Body of each test module's ``runner_process`` fixture.

    Yields a factory of RunnerProcess runs; at teardown every process they
    started is killed, whatever state the test left them in.
    """
    runs: list[RunnerProcess] = []

    def make(workdir: pathlib.Path | None = None) -> RunnerProcess:
        if workdir is None:
            workdir = tmp_path / f"run{len(runs)}"
            workdir.mkdir()
        run = RunnerProcess(workdir)
        runs.append(run)
        return run

    try:
        yield make
    finally:
        for run in runs:
            run.kill_all()


# A target for the runner tests --------------------------------------------------

echo_opts = [
    cfg.StrOpt("events", help="File the service appends its events to."),
    cfg.StrOpt("greeting", default="hello", mutable=True, help="Reported by each event."),
]


class EchoService(service.Service):
    """Reports start, reset and stop as events, with the greeting it reads from the config."""

    def __init__(self, conf: cfg.ConfigOpts) -> None:
        super().__init__()
        self.conf = conf

    def emit(self, name: str) -> None:
        line = f"{name} pid={os.getpid()} greeting={self.conf.echo.greeting}\n"
        fd = os.open(self.conf.echo.events, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)

    def start(self) -> None:
        self.emit("started")

    def reset(self) -> None:
        self.emit("reset")

    def stop(self, graceful: bool = False) -> None:
        self.emit("stopping")
        super().stop(graceful)


def make_echo_service(conf: cfg.ConfigOpts) -> EchoService:
    """The factory: registers its options on the parsed conf, as the runner allows."""
    conf.register_opts(echo_opts, group="echo")
    return EchoService(conf)


def make_slow_echo_service(conf: cfg.ConfigOpts) -> EchoService:
    """A factory that takes its time (opening databases, say), reporting when it began."""
    svc = make_echo_service(conf)
    svc.emit("factory-started")
    time.sleep(3)
    return svc


def make_not_a_service(conf: cfg.ConfigOpts) -> object:
    return object()


def make_failing_service(conf: cfg.ConfigOpts) -> EchoService:
    raise RuntimeError("cannot reach the database")
