"""oslo-threading-exec's command line and the environment it gives the program."""

import os
import pathlib
import subprocess
import sys

import pytest

from oslo_threading_backend import exec_command
from oslo_threading_backend._openstack import exec_site as _exec_site

BOOT = _exec_site.BOOTSTRAP_DIR


def test_the_bootstrap_goes_first_and_an_existing_pythonpath_is_kept():
    env = exec_command.bootstrap_environment({"PYTHONPATH": f"/a{os.pathsep}/b", "X": "1"})
    assert env["PYTHONPATH"] == os.pathsep.join([BOOT, "/a", "/b"])
    assert env[_exec_site.MARKER] == "1"
    assert env["X"] == "1"


def test_without_pythonpath_only_the_bootstrap_is_set():
    assert exec_command.bootstrap_environment({})["PYTHONPATH"] == BOOT
    assert exec_command.bootstrap_environment({"PYTHONPATH": ""})["PYTHONPATH"] == BOOT


def test_a_nested_run_does_not_repeat_the_bootstrap_and_has_its_own_top_process():
    outer = exec_command.bootstrap_environment({"PYTHONPATH": "/a"})
    outer[_exec_site.TOP_PID] = "123"
    inner = exec_command.bootstrap_environment(outer)
    assert inner["PYTHONPATH"] == os.pathsep.join([BOOT, "/a"])
    assert _exec_site.TOP_PID not in inner


def test_the_bootstrap_directory_holds_the_sitecustomize():
    assert os.path.isfile(os.path.join(BOOT, "sitecustomize.py"))


@pytest.mark.parametrize(
    ("argv", "status", "message"),
    [
        ([], 2, "no PROGRAM given; usage: oslo-threading-exec PROGRAM [ARGS...]"),
        (["--"], 2, "no PROGRAM given"),
        (["-x"], 2, "unknown option '-x'"),
        (["no-such-program-anywhere-h2"], 127, "command not found on PATH"),
    ],
)
def test_bad_command_lines_exit_with_one_line(argv, status, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        exec_command.main(argv)
    assert exit_info.value.code == status
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("oslo-threading-exec: ")
    assert message in err


def test_a_second_copy_of_the_bootstrap_on_the_path_still_chains_to_the_programs_own(tmp_path):
    # Two installs' bootstraps on PYTHONPATH (nested runs from two venvs) found each
    # other as "the next sitecustomize" until RecursionError; the program's own
    # sitecustomize never ran.
    copy, theirs = tmp_path / "copy", tmp_path / "theirs"
    copy.mkdir()
    theirs.mkdir()
    (copy / "sitecustomize.py").write_text((pathlib.Path(BOOT) / "sitecustomize.py").read_text())
    (theirs / "sitecustomize.py").write_text("print('their sitecustomize ran')\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(BOOT), str(copy), str(theirs)]))
    env[_exec_site.MARKER] = "1"
    env.pop(_exec_site.TOP_PID, None)
    done = subprocess.run(
        [sys.executable, "-c", "print('the program')"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["their sitecustomize ran", "the program"]
    assert "RecursionError" not in done.stderr
    assert done.stderr.count("was not used") <= 1


def test_glibcs_per_thread_caches_are_turned_off_for_the_program():
    assert exec_command.bootstrap_environment({})["GLIBC_TUNABLES"] == (
        "glibc.malloc.tcache_count=0"
    )


def test_the_users_tunables_are_kept_and_their_own_tcache_setting_wins():
    env = exec_command.bootstrap_environment({"GLIBC_TUNABLES": "glibc.malloc.arena_max=2"})
    assert env["GLIBC_TUNABLES"] == "glibc.malloc.arena_max=2:glibc.malloc.tcache_count=0"
    mine = "glibc.malloc.tcache_count=5"
    assert exec_command.bootstrap_environment({"GLIBC_TUNABLES": mine})["GLIBC_TUNABLES"] == mine


def test_keep_leaves_glibc_tunables_alone():
    env = exec_command.bootstrap_environment({exec_command.TCACHE: "keep"})
    assert "GLIBC_TUNABLES" not in env
    env = exec_command.bootstrap_environment(
        {exec_command.TCACHE: "keep", "GLIBC_TUNABLES": "x=1"}
    )
    assert env["GLIBC_TUNABLES"] == "x=1"


def test_a_bad_tcache_setting_is_a_usage_error(monkeypatch, capsys):
    monkeypatch.setenv(exec_command.TCACHE, "maybe")
    with pytest.raises(SystemExit) as exit_info:
        exec_command.main([sys.executable, "-c", "pass"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "OSLO_THREADING_EXEC_TCACHE must be one of off, keep, not 'maybe'" in err
