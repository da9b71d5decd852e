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

from oslo_threading_backend import backend
from oslo_threading_backend._openstack import eventlet_guard as _eventlet_guard
from oslo_threading_backend._openstack import wsgi_import as _wsgi_import

REPO_ROOT = pathlib.Path(__file__).resolve().parents[3]

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

# Enough of oslo.service for init_backend("eventlet") (the adapter's checks).
FAKE_OSLO_SERVICE = {
    "oslo_service/__init__.py": "",
    "oslo_service/backend/__init__.py": "",
    "oslo_service/backend/_eventlet/__init__.py": "",
}
FAKE_EVENTLET_TREE = {f"eventlet/{relpath}": text for relpath, text in FAKE_EVENTLET.items()}


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
    added = 1 if _wsgi_import.is_installed() else 2  # the block, and oslo_service.wsgi's finder
    _eventlet_guard.poison()
    _eventlet_guard.poison()
    assert len(sys.meta_path) == before + added
    assert _wsgi_import.is_installed()
    assert _eventlet_guard.is_poisoned()
    _eventlet_guard.unpoison()
    _eventlet_guard.unpoison()
    assert len(sys.meta_path) == before
    assert not _eventlet_guard.is_poisoned()


def test_import_fails_with_message_in_process():
    _eventlet_guard.poison()
    with pytest.raises(ImportError, match="runs on native threads"):
        import eventlet  # noqa: F401


def _fake_patcher(*patched: str) -> types.ModuleType:
    patcher = types.ModuleType("eventlet.patcher")
    patcher.is_monkey_patched = lambda module: module in patched
    return patcher


def test_poison_refuses_when_eventlet_has_monkey_patched(monkeypatch):
    fake = types.ModuleType("eventlet")
    fake.__file__ = "/somewhere/eventlet/__init__.py"
    monkeypatch.setitem(sys.modules, "eventlet", fake)
    monkeypatch.setitem(sys.modules, "eventlet.patcher", _fake_patcher("thread", "socket"))
    with pytest.raises(
        RuntimeError, match=r"monkey-patched this process \(thread, socket;"
    ) as info:
        _eventlet_guard.poison()
    assert "/somewhere/eventlet" in str(info.value)
    assert "init_backend('eventlet')" in str(info.value)
    assert not _eventlet_guard.is_poisoned()


def test_poison_warns_once_naming_the_importer_when_eventlet_is_only_imported(monkeypatch, caplog):
    fake = types.ModuleType("eventlet")
    fake.__path__ = []  # a package: its submodules are looked up on sys.meta_path
    monkeypatch.setitem(sys.modules, "eventlet", fake)
    monkeypatch.setitem(sys.modules, "eventlet.patcher", _fake_patcher())
    importer = types.ModuleType("some_library._compat")
    importer._eventlet = fake
    monkeypatch.setitem(sys.modules, "some_library._compat", importer)
    with caplog.at_level("WARNING", logger=_eventlet_guard.__name__):
        _eventlet_guard.poison()
        _eventlet_guard.poison()
    warnings = [r for r in caplog.records if r.name == _eventlet_guard.__name__]
    assert len(warnings) == 1, warnings
    message = warnings[0].getMessage()
    assert "eventlet is imported (by some_library._compat)" in message
    assert "has not monkey-patched" in message
    # No block: the library that imported eventlet may import its submodules.
    assert not _eventlet_guard.is_poisoned()


def test_monkey_patched_modules_imports_nothing(monkeypatch):
    monkeypatch.setitem(sys.modules, "eventlet", types.ModuleType("eventlet"))
    monkeypatch.delitem(sys.modules, "eventlet.patcher", raising=False)
    assert _eventlet_guard.monkey_patched_modules() == []
    assert "eventlet.patcher" not in sys.modules


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


def test_eventlet_imported_first_gives_one_warning_and_threading(fake_eventlet_path):
    proc = run_python(
        """
        import eventlet
        from oslo_threading_backend import backend
        backend.select_backend(env_var="OS_TEST_DISABLE_EVENTLET_PATCHING")
        print("selected:", backend.get_backend_type())
        """,
        fake_eventlet_path,
        OS_TEST_DISABLE_EVENTLET_PATCHING="true",
    )
    assert assert_ok(proc) == ["selected: BackendType.THREADING"]
    warnings = [line for line in proc.stderr.splitlines() if "eventlet is imported" in line]
    assert len(warnings) == 1, proc.stderr
    assert "eventlet is imported (by __main__)" in warnings[0]


def test_eventlet_monkey_patched_first_makes_selection_fail(fake_eventlet_path):
    (fake_eventlet_path / "eventlet" / "__init__.py").write_text("from eventlet import patcher\n")
    (fake_eventlet_path / "eventlet" / "patcher.py").write_text(
        "def is_monkey_patched(module):\n    return module in ('thread', 'time')\n"
    )
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
    assert lines[0].startswith(
        "RuntimeError | eventlet has monkey-patched this process (thread, time;"
    )
    assert lines[1] == "selected: None"


def test_importing_a_module_that_imports_futurist_settles_threading(fake_eventlet_path):
    lines = assert_ok(
        run_python(
            """
            import sys
            from oslo_threading_backend import service
            from oslo_threading_backend import backend
            from futurist import _utils
            print(backend.get_backend_type(), _utils.EVENTLET_AVAILABLE, "eventlet" in sys.modules)
            """,
            fake_eventlet_path,
        )
    )
    assert lines == ["BackendType.THREADING False False"]


def test_eventlet_selected_before_import_is_kept(tmp_path):
    # init_backend('eventlet') before our other modules: the settle keeps it.
    for relpath, text in {**FAKE_EVENTLET_TREE, **FAKE_OSLO_SERVICE}.items():
        target = tmp_path / relpath
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    lines = assert_ok(
        run_python(
            """
            from oslo_threading_backend import backend
            backend.init_backend("eventlet")
            from oslo_threading_backend import executors
            from futurist import _utils
            print(backend.get_backend_type(), _utils.EVENTLET_AVAILABLE)
            """,
            tmp_path,
        )
    )
    assert lines == ["BackendType.EVENTLET True"]


def test_default_hook_registered_before_import_decides(fake_eventlet_path):
    lines = assert_ok(
        run_python(
            """
            from oslo_threading_backend import backend
            backend.register_backend_default_hook(lambda: backend.BackendType.THREADING)
            from oslo_threading_backend import scatter_gather
            print(backend.get_backend_type())
            """,
            fake_eventlet_path,
        )
    )
    assert lines == ["BackendType.THREADING"]


def test_every_module_importing_futurist_settles_first():
    # A module of ours that imports futurist (or a module importing it) before
    # _settle would load eventlet where it is installed.
    import ast

    package = REPO_ROOT / "oslo_threading_backend"
    for path in sorted(package.rglob("*.py")):
        tree = ast.parse(path.read_text())
        names = []
        for node in tree.body:
            if isinstance(node, ast.Import):
                names.extend(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                names.extend(
                    f"{node.module}.{alias.name}"
                    if node.module.startswith("oslo_threading_backend")
                    else node.module
                    for alias in node.names
                )
        futurist = [i for i, n in enumerate(names) if n.split(".")[0] == "futurist"]
        if futurist:
            settle = (
                names.index("oslo_threading_backend._openstack.settle")
                if ("oslo_threading_backend._openstack.settle" in names)
                else None
            )
            assert settle is not None and settle < futurist[0], (
                f"{path.name} imports futurist without importing _openstack.settle first"
            )


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
