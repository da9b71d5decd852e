"""The eventlet import block installed when the threading backend is selected.

Import behaviour is process-wide, so the end-to-end cases run in a fresh
interpreter with a fake ``eventlet`` package (complete enough for futurist to
use it) on ``PYTHONPATH``; eventlet itself is never needed.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import textwrap
import types

import pytest

from oslo_threading_backend import _eventlet_guard
from oslo_threading_backend import backend

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]

# Just enough of eventlet's layout for futurist's optional eventlet support to
# import it and set EVENTLET_AVAILABLE = True.
FAKE_EVENTLET = {
    "__init__.py": "FAKE = True\n",
    "greenpool.py": "class GreenPool:\n    pass\n",
    "patcher.py": "def is_monkey_patched(module):\n    return False\n",
    "queue.py": "from queue import Queue\n",
    "greenthread.py": "def spawn(fn, *args, **kwargs):\n    raise NotImplementedError\n",
    "green/__init__.py": "",
    "green/threading.py": "from threading import *  # noqa\n",
}


@pytest.fixture(autouse=True)
def _clean_backend():
    backend._reset_backend()
    yield
    backend._reset_backend()


@pytest.fixture
def fake_eventlet_path(tmp_path: pathlib.Path) -> pathlib.Path:
    for relpath, text in FAKE_EVENTLET.items():
        target = tmp_path / "eventlet" / relpath
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    return tmp_path


def run_python(code: str, path: pathlib.Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter with ``path`` and the repo importable."""
    full_env = dict(os.environ)
    full_env.update(env)
    full_env["PYTHONPATH"] = os.pathsep.join([str(path), str(REPO_ROOT)])
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def assert_ok(proc: subprocess.CompletedProcess[str]) -> list[str]:
    assert proc.returncode == 0, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    return proc.stdout.splitlines()


# In-process: the finder itself.


def test_poison_blocks_eventlet_and_submodules_only():
    _eventlet_guard.poison()
    blocker = sys.meta_path[0]
    for name in ("eventlet", "eventlet.green", "eventlet.green.threading"):
        with pytest.raises(_eventlet_guard.EventletBlockedError) as info:
            blocker.find_spec(name, None)
        assert isinstance(info.value, ImportError)
        assert info.value.name == name
        assert "native threads" in str(info.value)
    for name in ("eventlets", "eventlet_compat", "futurist", "greenlet"):
        assert blocker.find_spec(name, None) is None


def test_poison_is_idempotent_and_unpoison_removes_it():
    before = len(sys.meta_path)
    _eventlet_guard.poison()
    _eventlet_guard.poison()
    assert len(sys.meta_path) == before + 1
    assert _eventlet_guard.is_poisoned()
    _eventlet_guard.unpoison()
    _eventlet_guard.unpoison()
    assert len(sys.meta_path) == before
    assert not _eventlet_guard.is_poisoned()


def test_import_fails_with_message_in_process():
    _eventlet_guard.poison()
    with pytest.raises(ImportError, match="runs on native threads"):
        import eventlet  # noqa: F401


def test_poison_refuses_when_eventlet_already_imported(monkeypatch):
    fake = types.ModuleType("eventlet")
    fake.__file__ = "/somewhere/eventlet/__init__.py"
    monkeypatch.setitem(sys.modules, "eventlet", fake)
    with pytest.raises(RuntimeError, match="already imported.*/somewhere/eventlet"):
        _eventlet_guard.poison()
    assert not _eventlet_guard.is_poisoned()


def test_none_in_sys_modules_does_not_count_as_imported(monkeypatch):
    monkeypatch.setitem(sys.modules, "eventlet", None)
    _eventlet_guard.poison()
    assert _eventlet_guard.is_poisoned()


def test_threading_backend_poisons_and_reset_unpoisons():
    backend.init_backend(backend.BackendType.THREADING)
    assert _eventlet_guard.is_poisoned()
    backend._reset_backend()
    assert not _eventlet_guard.is_poisoned()


def test_failed_threading_load_leaves_no_poison(monkeypatch):
    import importlib.metadata

    bad = importlib.metadata.EntryPoint(
        name="threading", value="no_such_module_xyz:Backend", group=backend.ENTRY_POINT_GROUP
    )
    monkeypatch.setattr(backend, "_entry_points", lambda: importlib.metadata.EntryPoints([bad]))
    with pytest.raises(backend.BackendNotAvailable):
        backend.init_backend("threading")
    assert not _eventlet_guard.is_poisoned()
    assert backend.get_backend_type() is None


# Fresh interpreters with the fake eventlet installed.


def test_fake_eventlet_is_importable_without_the_poison(fake_eventlet_path):
    # Control for the tests below: the fake really is on the path and futurist
    # would use it.
    lines = assert_ok(
        run_python(
            """
            import eventlet, futurist._utils
            print(eventlet.FAKE, futurist._utils.EVENTLET_AVAILABLE)
            """,
            fake_eventlet_path,
        )
    )
    assert lines == ["True True"]


def test_import_after_threading_selected_raises_clear_import_error(fake_eventlet_path):
    lines = assert_ok(
        run_python(
            """
            import sys
            from oslo_threading_backend import backend
            backend.init_backend(backend.BackendType.THREADING)
            for stmt in ("import eventlet", "from eventlet.green import threading"):
                try:
                    exec(stmt)
                except ImportError as exc:
                    print(type(exc).__name__, "|", exc)
                else:
                    print("IMPORTED")
            print("loaded:", "eventlet" in sys.modules)
            """,
            fake_eventlet_path,
        )
    )
    assert len(lines) == 3
    for line in lines[:2]:
        assert line.startswith("EventletBlockedError | import of 'eventlet' refused")
        assert "runs on native threads" in line
    assert lines[2] == "loaded: False"


def test_futurist_imports_and_works_without_eventlet(fake_eventlet_path):
    lines = assert_ok(
        run_python(
            """
            import sys
            from oslo_threading_backend import backend
            backend.init_backend("threading")
            import futurist, futurist.waiters, futurist.periodics, futurist._green
            from futurist import _utils
            with futurist.ThreadPoolExecutor(max_workers=2) as ex:
                result = ex.submit(sum, [1, 2, 3]).result(timeout=10)
            print(_utils.EVENTLET_AVAILABLE, result, "eventlet" in sys.modules)
            """,
            fake_eventlet_path,
        )
    )
    assert lines == ["False 6 False"]


def test_eventlet_imported_first_makes_selection_fail(fake_eventlet_path):
    lines = assert_ok(
        run_python(
            """
            import eventlet
            from oslo_threading_backend import backend
            try:
                backend.select_backend(env_var="OS_TEST_DISABLE_EVENTLET_PATCHING")
            except RuntimeError as exc:
                print("RuntimeError |", exc)
            print("selected:", backend.get_backend_type())
            """,
            fake_eventlet_path,
            OS_TEST_DISABLE_EVENTLET_PATCHING="true",
        )
    )
    assert lines[0].startswith("RuntimeError | eventlet is already imported")
    assert "select the threading backend before importing" in lines[0]
    assert lines[1] == "selected: None"


def test_reset_backend_lifts_the_poison(fake_eventlet_path):
    lines = assert_ok(
        run_python(
            """
            from oslo_threading_backend import backend
            backend.init_backend("threading")
            backend._reset_backend()
            import eventlet
            print(eventlet.FAKE)
            """,
            fake_eventlet_path,
        )
    )
    assert lines == ["True"]
