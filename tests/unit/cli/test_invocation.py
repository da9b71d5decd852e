import os
import shlex
import sys
import types

from oslo_config import cfg
import pytest

from oslo_threading_backend._cli import invocation as _invocation
from oslo_threading_backend.demo import submit


@pytest.fixture
def bin_dir(tmp_path, monkeypatch):
    """A working directory holding ``.venv/bin`` with a console script and a python."""
    monkeypatch.chdir(tmp_path)
    bin_dir = tmp_path / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    for name in ("oslo-threading-run", "python"):
        (bin_dir / name).write_text("#!/bin/sh\n")
        (bin_dir / name).chmod(0o755)
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    return bin_dir


def _as_console_script(monkeypatch, path: str) -> None:
    monkeypatch.setattr(sys, "argv", [path])
    monkeypatch.setitem(sys.modules, "__main__", types.ModuleType("__main__"))


def _as_python_m(monkeypatch, python: str) -> None:
    main = types.ModuleType("__main__")
    main.__spec__ = types.SimpleNamespace(name="oslo_threading_backend.__main__")
    monkeypatch.setitem(sys.modules, "__main__", main)
    monkeypatch.setattr(sys, "argv", ["oslo-threading-run"])
    monkeypatch.setattr(sys, "executable", python)


def test_console_script_not_on_path_is_named_by_its_path(bin_dir, monkeypatch):
    _as_console_script(monkeypatch, ".venv/bin/oslo-threading-run")
    assert _invocation.runner_command() == [os.path.join(".venv", "bin", "oslo-threading-run")]


def test_console_script_on_path_is_named_bare(bin_dir, monkeypatch):
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin")
    monkeypatch.setattr(sys, "prefix", sys.base_prefix)  # not a virtual environment
    _as_console_script(monkeypatch, str(bin_dir / "oslo-threading-run"))
    assert _invocation.runner_command() == ["oslo-threading-run"]


def test_in_an_activated_venv_the_console_script_is_named_by_its_path(bin_dir, monkeypatch):
    # A second terminal (where the hint is pasted) has not activated the venv.
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin")
    monkeypatch.setattr(sys, "prefix", str(bin_dir.parent))
    _as_console_script(monkeypatch, str(bin_dir / "oslo-threading-run"))
    assert _invocation.runner_command() == [os.path.join(".venv", "bin", "oslo-threading-run")]


def test_python_m_names_this_interpreter_as_typed_here(bin_dir, monkeypatch):
    _as_python_m(monkeypatch, str(bin_dir / "python"))
    assert _invocation.runner_command() == [
        os.path.join(".venv", "bin", "python"),
        "-m",
        "oslo_threading_backend",
    ]


def test_an_interpreter_outside_the_current_directory_is_absolute(bin_dir, monkeypatch):
    other = bin_dir.parent.parent / "elsewhere"
    other.mkdir()
    monkeypatch.chdir(other)
    _as_python_m(monkeypatch, str(bin_dir / "python"))
    assert _invocation.runner_command()[0] == str(bin_dir / "python")


def test_a_symlink_on_path_to_the_same_interpreter_is_not_this_command(bin_dir, monkeypatch):
    # The venv's python links to the system one: "python" on PATH is not the venv.
    system = bin_dir.parent.parent / "system-bin"
    system.mkdir()
    (system / "python").symlink_to(bin_dir / "python")
    monkeypatch.setenv("PATH", str(system))
    _as_python_m(monkeypatch, str(bin_dir / "python"))
    assert _invocation.runner_command()[0] == os.path.join(".venv", "bin", "python")


def test_demo_submit_hint_passes_the_config_files_of_another_state_dir(
    bin_dir, monkeypatch, tmp_path
):
    _as_console_script(monkeypatch, ".venv/bin/oslo-threading-run")
    conf_file = tmp_path / "demo.conf"
    conf_file.write_text("[demo]\nstate_dir = /srv/demo\n")

    default = cfg.ConfigOpts()
    default([])
    assert submit.command_line(default, 20) == ".venv/bin/oslo-threading-run demo-submit 20"

    other = cfg.ConfigOpts()
    other(["--config-file", "demo.conf"])
    assert shlex.split(submit.command_line(other, 5)) == [
        ".venv/bin/oslo-threading-run",
        "demo-submit",
        "5",
        "--config-file",
        "demo.conf",
    ]
