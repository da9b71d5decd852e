"""Signals the master forwards reach its workers only, never its process group.

cotyledon 2.2.0 forwards SIGHUP and SIGINT with ``os.killpg(0, ...)``; its
``os.setsid()`` fails silently when the master already leads a process group
(first command of a shell pipeline, a shell-less container entry point), and
the group then holds processes the master did not start: ``prog | tee log``
lost its tee at SIGHUP.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import shlex
import signal
import subprocess
import sys

import pytest

from tests.functional import harness

SERVICE_APP = harness.PROGRAMS / "service_app.py"


class Run:
    """service_app.py started by the test's own command; every process it left is killed."""

    def __init__(self, workdir: pathlib.Path) -> None:
        self.workdir = workdir
        self.events_path = workdir / "events.txt"
        self.config_path = workdir / "service.conf"
        self.log_path = workdir / "service.log"
        self.write_config("v1")
        self.run = harness.ServiceProcess(workdir)
        self.run.events_path = self.events_path
        self.popens: list[subprocess.Popen] = []
        self.master_pid: int | None = None

    def write_config(self, value: str) -> None:
        self.config_path.write_text(
            f"[DEFAULT]\ngraceful_shutdown_timeout = 10\n[app]\nvalue = {value}\n"
        )

    def argv(self, *args: str) -> list[str]:
        return [
            sys.executable,
            str(SERVICE_APP),
            "--events",
            str(self.events_path),
            "--workers",
            "2",
            "--config-file",
            str(self.config_path),
            *args,
        ]

    def popen(self, argv, **kwargs) -> subprocess.Popen:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        popen = subprocess.Popen(argv, cwd=self.workdir, env=env, **kwargs)
        self.popens.append(popen)
        return popen

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def workers(self) -> dict[int, int]:
        assert self.master_pid is not None
        found = {}
        for pid in harness.children(self.master_pid):
            title = harness.process_title(pid) or ""
            if " worker(" in title:
                found[int(title.rsplit("worker(", 1)[1].rstrip(")"))] = pid
        return found

    def wait_started(self, value: str) -> dict[int, int]:
        harness.poll(
            lambda: len(self.run.events("started", value=value)) >= 2,
            what=f"2 workers started on {value}; log:\n{self.log()}",
        )
        return harness.poll(lambda: (w := self.workers()) and len(w) == 2 and w, what="2 workers")

    def kill_all(self) -> None:
        pids = {p.pid for p in self.popens}
        if self.master_pid is not None:
            pids |= {self.master_pid, *harness.children(self.master_pid)}
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        for popen in self.popens:
            with contextlib.suppress(subprocess.TimeoutExpired):
                popen.wait(10)


@pytest.fixture
def make_run(tmp_path):
    runs = []

    def make() -> Run:
        workdir = tmp_path / f"run{len(runs)}"
        workdir.mkdir()
        runs.append(Run(workdir))
        return runs[-1]

    yield make
    for run in runs:
        run.kill_all()


def _pipeline(run: Run) -> subprocess.Popen:
    """``prog 2>&1 | tee LOG`` in a job-control shell: the master leads the pipeline's group."""
    command = f"set -m; {shlex.join(run.argv())} 2>&1 | tee {shlex.quote(str(run.log_path))}"
    shell = run.popen(
        ["bash", "-c", command],
        stdout=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )

    def master_and_tee():
        found = {}
        for pid in harness.children(shell.pid):
            title = harness.process_title(pid) or ""
            if "master process" in title:
                found["master"] = pid
            elif title.startswith("tee "):
                found["tee"] = pid
        return found if len(found) == 2 else None

    found = harness.poll(master_and_tee, what="the pipeline's two processes")
    run.master_pid = found["master"]
    assert os.getpgid(run.master_pid) == run.master_pid  # setsid() cannot work here
    assert os.getpgid(found["tee"]) == run.master_pid
    return shell, found["tee"]


@pytest.mark.skipif(not os.path.exists("/bin/bash"), reason="needs bash's job control")
def test_sighup_and_sigint_to_the_master_spare_the_pipe_consumer(make_run):
    run = make_run()
    shell, tee = _pipeline(run)
    workers = run.wait_started("v1")

    run.write_config("v2")
    os.kill(run.master_pid, signal.SIGHUP)

    assert run.wait_started("v2") == workers
    # tee is alive and still writing: the workers' reload lines came through it.
    harness.poll(lambda: run.log().count("reloaded its config") == 2, what="reload lines in tee")
    assert harness.process_title(tee) and os.getpgid(tee) == run.master_pid

    os.kill(run.master_pid, signal.SIGINT)

    # The master and its workers exit at once; tee reads to the end of the pipe
    # and exits 0 (bash returns the pipeline's last command's status).
    assert shell.wait(timeout=10) == 0, run.log()
    harness.poll(lambda: not any(harness.children(run.master_pid)), what="workers gone")
    log = run.log()
    assert "Caught SIGINT signal, instantaneous exiting" in log, log
    assert log.count("Caught SIGINT signal, instantaneous exiting of service") == 2, log


def _group_leader_with_a_sibling(run: Run, how: str) -> int:
    if how == "process group leader":
        # The first command of a pipeline, as a shell without a tty would start it.
        with open(run.log_path, "wb") as log:
            master = run.popen(run.argv(), stdout=log, stderr=subprocess.STDOUT, process_group=0)
        sibling = run.popen(["sleep", "600"], process_group=master.pid)
        run.master_pid = master.pid
        return sibling.pid
    # A shell-less container entry point: session (PID 1-like) leader, a helper
    # started before the service in its group.
    command = f"sleep 600 & exec {shlex.join(run.argv())}"
    with open(run.log_path, "wb") as log:
        master = run.popen(
            ["sh", "-c", command], stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    run.master_pid = master.pid

    def sibling():
        return next(
            (p for p in harness.children(master.pid) if harness.process_title(p) == "sleep 600"),
            None,
        )

    return harness.poll(sibling, what="the entry point's helper")


@pytest.mark.parametrize("how", ["process group leader", "session leader"])
def test_a_master_leading_its_group_spares_the_other_processes_of_the_group(make_run, how):
    run = make_run()
    sibling = _group_leader_with_a_sibling(run, how)
    workers = run.wait_started("v1")
    assert os.getpgid(sibling) == os.getpgid(run.master_pid) == run.master_pid

    run.write_config("v2")
    os.kill(run.master_pid, signal.SIGHUP)
    assert run.wait_started("v2") == workers
    assert harness.process_title(sibling) == "sleep 600"

    os.kill(run.master_pid, signal.SIGINT)
    master = next(p for p in run.popens if p.pid == run.master_pid)
    assert master.wait(timeout=10) == 1
    for pid in workers.values():
        harness.poll(lambda pid=pid: not harness.process_title(pid), what=f"worker {pid} gone")
    # The SIGINT reached the workers themselves.
    assert run.log().count("Caught SIGINT signal, instantaneous exiting of service") == 2
    assert harness.process_title(sibling) == "sleep 600"
