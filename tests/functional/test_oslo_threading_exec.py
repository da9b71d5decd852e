"""``oslo-threading-exec`` runs an unmodified oslo.service consumer on our launcher.

The consumer (programs/oslo_service_app.py) imports only ``oslo_service.*``.
What proves it runs on this package is read from its processes: READY=1 from
our master, worker titles from /proc, the module each process says answers
``oslo_service.service``, SIGHUP mutating in place, no eventlet or greenlet in
any process (each one's ``sys.modules``, and ``/proc/<pid>/maps`` for
greenlet's C extension). The bad-input tests need no oslo.service.
"""

from __future__ import annotations

import os
import pathlib
import re
import signal
import subprocess
import sys

import pytest

from oslo_threading_backend._openstack import exec_site as _exec_site
from tests.functional.harness import process_title
from tests.installed import installed

HAS_OSLO_SERVICE = installed("oslo.service")
needs_oslo_service = pytest.mark.skipif(
    not HAS_OSLO_SERVICE, reason="oslo.service is not installed (tox -e openstack has it)"
)

START_LINE = re.compile(
    r"^oslo-threading-exec: oslo_service\.\{.*\} answered by oslo_threading_backend ", re.M
)
NOT_USED_LINE = re.compile(r"^oslo-threading-exec: .* never imported any of oslo_service\.", re.M)


def exec_command() -> list[str]:
    """The installed console script (next to this interpreter), else its module."""
    script = pathlib.Path(sys.executable).with_name("oslo-threading-exec")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "oslo_threading_backend.exec_command"]


def run_exec(
    *args: str, env: dict[str, str] | None = None, cwd=None
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*exec_command(), *args],
        env=dict(os.environ, **(env or {})),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


# The consumer on our launcher ---------------------------------------------------


@needs_oslo_service
def test_unmodified_oslo_service_program_runs_on_our_launcher(service_process):
    run = service_process("oslo_service_app.py")
    run.command_prefix = exec_command()
    config = {"DEFAULT": {"graceful_shutdown_timeout": 10}, "app": {"value": "before"}}
    run.start(config=config, wait_ready=True)  # READY=1: sent by our master

    workers = run.wait_for_workers(2)
    for number, pid in workers.items():
        assert process_title(pid) == f"oslo_service_app.py: ServiceWrapper worker({number})"
    started = run.wait_for_events("started", count=2, value="before")
    assert {e.pid for e in started} == set(workers.values())
    run.wait_for_events("tick", count=2)  # oslo_service.loopingcall ran in each worker
    (launched,) = run.events("launched")
    assert launched.pid == run.pid
    assert launched["launcher"] == "oslo_threading_backend.service.ProcessLauncher"
    assert len(START_LINE.findall(run.log())) == 1, run.log()

    # SIGHUP with restart_method='mutate': reset() in place, new value seen.
    run.write_config(DEFAULT={"graceful_shutdown_timeout": 10}, app={"value": "after"})
    run.send(signal.SIGHUP)
    resets = run.wait_for_events("reset", count=2, value="after")
    assert {e.pid for e in resets} == set(workers.values())
    assert run.workers() == workers
    assert len(run.events("started")) == 2

    # No eventlet anywhere: what each process reports, and what /proc shows mapped.
    for pid in [run.pid, *workers.values()]:
        maps = pathlib.Path(f"/proc/{pid}/maps").read_text()
        assert "greenlet" not in maps and "eventlet" not in maps, pid

    run.send(signal.SIGTERM)
    assert run.wait_exit() == 0
    run.wait_gone(workers.values())
    # oslo.service's contract: wait() returned in each worker once stop() was called.
    assert {e.pid for e in run.events("waited")} == set(workers.values())
    events = run.events()
    assert {e.pid for e in events} == {run.pid, *workers.values()}
    assert all(e["service_module"] == "oslo_threading_backend.service" for e in events)
    assert all(e["green_modules"] == "0" for e in events), [e for e in events]
    assert not NOT_USED_LINE.search(run.log())


@needs_oslo_service
def test_children_and_re_exec_of_the_program_are_answered_too(tmp_path):
    child = "from oslo_service import service; print('child', service.__name__)"
    script = tmp_path / "parent.py"
    script.write_text(
        "import os, subprocess, sys\n"
        "if len(sys.argv) == 1:\n"
        f"    subprocess.run([sys.executable, '-c', {child!r}], check=True)\n"
        "    print('parent', os.getpid(), flush=True)\n"
        "    os.execv(sys.executable, [sys.executable, __file__, 're-exec'])\n"
        "import oslo_service.service\n"
        "print('re-exec', os.getpid(), oslo_service.service.__name__)\n"
    )
    done = run_exec(sys.executable, str(script))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.split("\n")
    assert lines[0] == "child oslo_threading_backend.service"
    parent_pid = lines[1].split()[1]
    assert lines[2] == f"re-exec {parent_pid} oslo_threading_backend.service"
    # One start line for the whole run: not in the child, not again after the re-exec.
    assert len(START_LINE.findall(done.stderr)) == 1, done.stderr
    assert f"in pid {parent_pid} " in done.stderr


@needs_oslo_service
def test_an_existing_pythonpath_and_sitecustomize_keep_working(tmp_path):
    (tmp_path / "sitecustomize.py").write_text("import os\nos.environ['THEIRS_RAN'] = '1'\n")
    (tmp_path / "their_module.py").write_text("NAME = 'theirs'\n")
    code = (
        "import os, their_module; from oslo_service import service; "
        "print(os.environ.get('THEIRS_RAN'), their_module.NAME, service.__name__)"
    )
    done = run_exec(sys.executable, "-c", code, env={"PYTHONPATH": str(tmp_path)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["1", "theirs", "oslo_threading_backend.service"]


# Bad input ----------------------------------------------------------------------


def _one_line(stderr: str) -> str:
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("oslo-threading-exec: "), stderr
    return lines[0]


def test_no_program_is_a_one_line_usage_error_with_status_2():
    done = run_exec()
    assert done.returncode == 2
    assert "usage: oslo-threading-exec PROGRAM [ARGS...]" in _one_line(done.stderr)


def test_an_unknown_option_is_a_usage_error():
    done = run_exec("--workers", "2")
    assert done.returncode == 2
    assert "unknown option '--workers'" in _one_line(done.stderr)


def test_help_describes_the_command():
    done = run_exec("--help")
    assert done.returncode == 0
    assert done.stdout.startswith("usage: oslo-threading-exec PROGRAM [ARGS...]")


def test_a_program_not_on_path_exits_127_with_one_line(tmp_path):
    done = run_exec("no-such-program-here", env={"PATH": str(tmp_path)})
    assert done.returncode == 127
    assert _one_line(done.stderr) == (
        "oslo-threading-exec: no-such-program-here: command not found on PATH"
    )


def test_a_missing_program_path_exits_127(tmp_path):
    done = run_exec(str(tmp_path / "missing"))
    assert done.returncode == 127
    assert "No such file or directory" in _one_line(done.stderr)


def test_a_program_that_cannot_be_executed_exits_126(tmp_path):
    target = tmp_path / "not-executable"
    target.write_text("#!/bin/sh\nexit 0\n")
    done = run_exec(str(target))
    assert done.returncode == 126
    assert "Permission denied" in _one_line(done.stderr)


def test_a_program_without_oslo_service_keeps_its_exit_status_and_says_so():
    done = run_exec(sys.executable, "-c", "import sys; print('ran'); sys.exit(3)")
    assert done.returncode == 3
    assert done.stdout == "ran\n"
    if HAS_OSLO_SERVICE:
        assert len(START_LINE.findall(done.stderr)) == 1, done.stderr
        assert len(NOT_USED_LINE.findall(done.stderr)) == 1, done.stderr
    else:
        assert "oslo.service is not installed" in _one_line(done.stderr)


def test_a_program_found_on_path_gets_the_bootstrap_environment(tmp_path):
    target = tmp_path / "show-env"
    target.write_text(f'#!/bin/sh\necho "$PYTHONPATH"\necho "${_exec_site.MARKER}"\nexit 4\n')
    target.chmod(0o755)
    path = os.pathsep.join([str(tmp_path), os.environ.get("PATH", "")])
    done = run_exec("show-env", env={"PATH": path, "PYTHONPATH": "/theirs"})
    assert done.returncode == 4
    assert done.stdout.split("\n")[:2] == [
        f"{_exec_site.BOOTSTRAP_DIR}{os.pathsep}/theirs",
        "1",
    ]


def test_a_program_using_this_package_directly_is_not_said_unused():
    code = "from oslo_threading_backend import service; print(service.__name__)"
    done = run_exec(sys.executable, "-c", code)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "oslo_threading_backend.service\n"
    assert not NOT_USED_LINE.search(done.stderr), done.stderr


@needs_oslo_service
def test_the_programs_own_futurist_pools_are_fixed_before_it_launches():
    # nova makes its pools in the master and shuts them down before forking: without the
    # fast shutdown that cost futurist's 1 s idle poll per pool on the way to the first fork.
    code = (
        "import oslo_service.backend as b; b.init_backend(b.BackendType.THREADING)\n"
        "import futurist\n"
        "from oslo_threading_backend._upstream import futurist_fixes as f\n"
        "pool = futurist.ThreadPoolExecutor(40)\n"
        "[pool.submit(abs, -1).result() for _ in range(20)]\n"
        "print(f.is_applied(), f.threads_on_demand_applied(), len(pool._workers))\n"
        "pool.shutdown(wait=True)\n"
    )
    done = run_exec(sys.executable, "-c", code)
    assert done.returncode == 0, done.stderr
    applied, on_demand, threads = done.stdout.split()
    assert (applied, on_demand) == ("True", "True")
    assert int(threads) <= 2  # futurist alone starts one per submit: 20


LD_SO = "/lib64/ld-linux-x86-64.so.2"


@pytest.mark.skipif(not os.path.exists(LD_SO), reason="glibc's x86-64 dynamic loader")
def test_glibc_reads_the_merged_tunables_and_the_users_tcache_setting_wins():
    # The dynamic loader lists the tunables as glibc parsed them from the environment.
    def tunables(**env):
        done = run_exec(LD_SO, "--list-tunables", env=env)
        assert done.returncode == 0, done.stderr
        return {
            line.split(":")[0]: line.split(":")[1].split()[0]
            for line in done.stdout.splitlines()
            if line.startswith("glibc.malloc.")
        }

    mine = tunables(GLIBC_TUNABLES="glibc.malloc.arena_max=2:glibc.malloc.tcache_count=3")
    assert (mine["glibc.malloc.arena_max"], mine["glibc.malloc.tcache_count"]) == ("0x2", "0x3")
    merged = tunables(GLIBC_TUNABLES="glibc.malloc.arena_max=2")
    assert merged["glibc.malloc.arena_max"] == "0x2"


def test_the_program_starts_with_glibcs_thread_caches_off_unless_kept(tmp_path):
    target = tmp_path / "show-tunables"
    target.write_text('#!/bin/sh\necho "${GLIBC_TUNABLES-unset}"\n')
    target.chmod(0o755)
    assert run_exec(str(target)).stdout.strip() == "glibc.malloc.tcache_count=0"
    kept = run_exec(str(target), env={"OSLO_THREADING_EXEC_TCACHE": "keep"})
    assert kept.stdout.strip() == os.environ.get("GLIBC_TUNABLES", "unset")
