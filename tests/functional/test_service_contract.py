"""Services as oslo.service consumers write them: start(), then wait() while running."""

from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import sys
import textwrap

import pytest

from tests.installed import installed as _installed

REPO = pathlib.Path(__file__).resolve().parents[2]


def test_each_worker_calls_wait_after_start_and_sigterm_stops_then_awaits_it(service_process):
    run = service_process().start("--workers", "2")
    workers = run.wait_for_workers(2)
    # wait() runs while the service runs, before any signal.
    run.wait_for_events("wait-begin", count=2)
    assert not run.events("stopping")

    run.send(signal.SIGTERM)
    assert run.wait_exit() == 0
    for pid in workers.values():
        names = [e.name for e in run.events() if e.pid == pid]
        assert names.index("started") < names.index("wait-begin") < names.index("stopping")
        # One wait() per start(): the stop awaited the running one.
        assert names.count("wait-begin") == 1 and names.count("stopped") == 1, names
        assert names[-1] == "stopped", names


def test_no_fork_calls_wait_after_start(service_process):
    run = service_process().start("--launcher", "no-fork")
    run.wait_for_events("wait-begin", count=1, pid=run.pid)
    run.send(signal.SIGTERM)
    assert run.wait_exit() == 0
    names = [e.name for e in run.events() if e.pid == run.pid]
    assert names.count("wait-begin") == 1 and names.count("stopped") == 1, names
    assert names.index("wait-begin") < names.index("stopping") < names.index("stopped")


OSLO_SERVICE_PROGRAM = """
import os
import signal
import sys
import threading

from oslo_service import backend as oslo_backend

# oslo.service's own threading backend answers oslo_service.service here: our
# launcher must take its ServiceBase subclasses.
oslo_backend.init_backend(oslo_backend.BackendType.THREADING)
from oslo_service import service as oslo_service_service

from oslo_config import cfg
from oslo_threading_backend import service

EVENTS = sys.argv[1]


def emit(name):
    fd = os.open(EVENTS, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.write(fd, f"{name} pid={os.getpid()}\\n".encode())
    os.close(fd)


class Consumer(oslo_service_service.ServiceBase):
    def __init__(self):
        self.stopped = threading.Event()

    def start(self):
        emit("start")

    def wait(self):
        emit("wait-begin")
        self.stopped.wait()
        emit("wait-end")

    def stop(self):
        emit("stop")
        self.stopped.set()

    def reset(self):
        emit("reset")


print(isinstance(service.Service(), oslo_service_service.ServiceBase), flush=True)
conf = cfg.ConfigOpts()
conf([])
launcher = service.launch(conf, Consumer(), workers=2)
sys.exit(launcher.wait())
"""


@pytest.mark.skipif(
    not _installed("oslo.service"),
    reason="oslo.service is not installed (tox -e openstack has it)",
)
def test_oslo_service_servicebase_subclass_runs_in_our_workers(tmp_path):
    from tests.functional.harness import poll

    program = tmp_path / "consumer.py"
    program.write_text(textwrap.dedent(OSLO_SERVICE_PROGRAM))
    events = tmp_path / "events.txt"
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])
    )

    def lines():
        return events.read_text().splitlines() if events.exists() else []

    proc = subprocess.Popen(
        [sys.executable, str(program), str(events)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        poll(lambda: sum(line.startswith("wait-begin") for line in lines()) == 2, timeout=30)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 0, out
    # Our ServiceBase is one of theirs (eventlet's warning comes from oslo.service's
    # threading backend importing futurist, before our package).
    assert "True" in out.splitlines(), out
    pids = {line.split("pid=")[1] for line in lines()}
    assert len(pids) == 2
    for pid in pids:
        names = [line.split()[0] for line in lines() if line.endswith(f"pid={pid}")]
        assert names == ["start", "wait-begin", "stop", "wait-end"], names
