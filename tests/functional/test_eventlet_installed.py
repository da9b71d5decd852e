"""Where OpenStack services live, eventlet is installed: installed is not used.

Every test runs real programs in an environment where the real eventlet is
installed (``tox -e openstack``) and reads what they print and what they
loaded; skipped where eventlet is not installed (the fake eventlet of
tests/unit/test_eventlet_guard.py covers the logic there).
"""

from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import sys
import textwrap

import pytest

from oslo_threading_backend import fixture
from tests.installed import installed as _installed

pytestmark = pytest.mark.skipif(
    not _installed("eventlet"), reason="eventlet is not installed (tox -e openstack has it)"
)

REPO = pathlib.Path(__file__).resolve().parents[2]
TARGET = "tests.functional.fixture_targets:make_service"
# What eventlet prints when it is imported (its EventletDeprecationWarning).
EVENTLET_OUTPUT = ("EventletDeprecationWarning", "Eventlet", "eventlet is imported")


def env() -> dict[str, str]:
    path = [str(REPO)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    return dict(os.environ, PYTHONPATH=os.pathsep.join(path), PYTHONWARNINGS="default")


def run(argv: list[str], cwd: pathlib.Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv,
        cwd=cwd,
        env=env(),
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def python(code: str, cwd: pathlib.Path) -> subprocess.CompletedProcess[str]:
    return run([sys.executable, "-c", textwrap.dedent(code)], cwd)


def assert_no_eventlet_output(proc: subprocess.CompletedProcess[str]) -> None:
    for text in (proc.stdout, proc.stderr):
        for word in EVENTLET_OUTPUT:
            assert word not in text, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"


@pytest.mark.parametrize(
    "module",
    [
        "service",
        "threadgroup",
        "loopingcall",
        "periodic_task",
        "executors",
        "scatter_gather",
        "systemd",
        "fixture",
        "runner",
        "opts",
        "demo.scheduler",
    ],
)
def test_importing_our_module_first_loads_no_eventlet(module, tmp_path):
    proc = python(
        f"""
        import sys
        from oslo_threading_backend import {module.split(".")[0]}
        import oslo_threading_backend.{module}
        print(sorted(m for m in sys.modules if m.split(".")[0] == "eventlet"))
        """,
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["[]"]
    assert proc.stderr == ""


def test_runner_help_prints_no_eventlet_warning(tmp_path):
    proc = run([sys.executable, "-m", "oslo_threading_backend", "--help"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "usage: oslo-threading-run" in proc.stdout
    assert_no_eventlet_output(proc)


def test_config_generator_lists_our_options_without_eventlet(tmp_path):
    out = tmp_path / "sample.conf"
    proc = run(
        [
            sys.executable,
            "-m",
            "oslo_config.generator",
            "--namespace",
            "oslo_threading_backend",
            "--output-file",
            str(out),
        ],
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert_no_eventlet_output(proc)
    assert "#graceful_shutdown_timeout = 60" in out.read_text()


@pytest.mark.parametrize(
    "namespaces",
    [
        ("oslo.service.service", "oslo_threading_backend"),
        ("oslo_threading_backend", "oslo.service.service"),
    ],
)
def test_config_generator_with_oslo_service_namespace_in_either_order(namespaces, tmp_path):
    if not _installed("oslo.service"):
        pytest.skip("oslo.service is not installed (tox -e openstack has it)")
    out = tmp_path / "sample.conf"
    argv = [sys.executable, "-m", "oslo_config.generator", "--output-file", str(out)]
    for namespace in namespaces:
        argv += ["--namespace", namespace]
    proc = run(argv, tmp_path)
    assert proc.returncode == 0, proc.stderr
    text = out.read_text()
    assert "#graceful_shutdown_timeout = 60" in text
    assert "#thread_dump_signal = SIGUSR2" in text


def test_monkey_patched_process_is_refused_with_a_clear_error(tmp_path):
    proc = python(
        """
        import eventlet
        eventlet.monkey_patch()
        try:
            from oslo_threading_backend import service
        except RuntimeError as exc:
            print("RuntimeError |", exc)
        """,
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("RuntimeError | eventlet has monkey-patched this process (")
    assert "init_backend('eventlet')" in proc.stdout


def test_eventlet_imported_by_another_library_gives_one_warning(tmp_path):
    # futurist imported first imports eventlet (installed), patching nothing.
    proc = python(
        """
        import sys
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import futurist
        from oslo_threading_backend import service
        from oslo_threading_backend import backend
        svc = service.Service()
        print(backend.get_backend_type().value)
        """,
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["threading"]
    warnings = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(warnings) == 1, proc.stderr
    assert "eventlet is imported (by futurist._utils" in warnings[0]
    assert "has not monkey-patched" in warnings[0]


def test_eventlet_backend_chosen_before_import_is_used(tmp_path):
    if not _installed("oslo.service"):
        pytest.skip("oslo.service is not installed (tox -e openstack has it)")
    proc = python(
        """
        import warnings
        warnings.simplefilter("ignore")
        from oslo_threading_backend import backend
        backend.init_backend("eventlet")
        from oslo_threading_backend import service
        from futurist import _utils
        print(backend.get_backend_type().value, _utils.EVENTLET_AVAILABLE)
        """,
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["eventlet True"]


@pytest.mark.parametrize(
    "target", [TARGET, "oslo_threading_backend.demo.scheduler:create_service"]
)
def test_service_fixture_and_demo_run_without_eventlet(target):
    # The fixture runs the runner with real workers: no process of it loads
    # eventlet (which would load greenlet, a C extension, seen in its maps).
    svc = fixture.ServiceFixture(
        target,
        workers=2,
        env={"PYTHONPATH": env()["PYTHONPATH"]},
        config={"DEFAULT": {"graceful_shutdown_timeout": 10}},
    )
    with svc:
        workers = svc.worker_pids()
        assert sorted(workers) == [0, 1]
        for pid in (svc.master_pid, *workers.values()):
            with open(f"/proc/{pid}/maps") as f:
                maps = f.read()
            assert "greenlet" not in maps, pid
        svc.send_signal(signal.SIGTERM)
        assert svc.wait() == 0
        log = svc.log()
    for word in EVENTLET_OUTPUT:
        assert word not in log, log


def test_runner_in_a_monkey_patched_process_is_one_line_and_status_2(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-W",
            "ignore",  # eventlet's own deprecation warning, printed by the import below
            "-c",
            "import eventlet; eventlet.monkey_patch()\n"
            "from oslo_threading_backend import runner\n"
            "raise SystemExit(runner.main(['tests.functional.runner_harness:make_echo_service']))",
        ],
        cwd=tmp_path,
        env=dict(env(), PYTHONWARNINGS="ignore"),
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(
        "oslo-threading-run: error: cannot select the concurrency backend: "
        "eventlet has monkey-patched this process ("
    )
