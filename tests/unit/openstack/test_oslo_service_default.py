"""With oslo.service installed beside us: its own modules still import on native threads."""

import subprocess
import sys
import textwrap

import pytest

from tests.installed import installed

pytestmark = pytest.mark.skipif(
    not (installed("oslo.service") and installed("eventlet")),
    reason="needs oslo.service and eventlet installed (tox -e openstack)",
)


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_oslo_service_modules_import_after_ours_on_its_threading_backend():
    # Module-by-module migration, and oslo.messaging's server module: importing
    # oslo_service.loopingcall after ours made oslo.service load its default
    # backend, eventlet, which our threading backend blocks ("Unknown backend").
    done = _run(
        """
        import sys
        from oslo_threading_backend import service
        from oslo_service import backend, loopingcall
        assert backend.get_backend_type() is backend.BackendType.THREADING
        assert "eventlet" not in sys.modules, sorted(m for m in sys.modules if "eventlet" in m)
        print(loopingcall.FixedIntervalLoopingCall.__module__)
        """
    )
    assert done.returncode == 0, done.stderr
    assert "oslo_service.backend._threading" in done.stdout


def test_a_launcher_refuses_a_process_monkey_patched_after_the_backend_was_chosen():
    done = _run(
        """
        import eventlet  # imported by "another library": one warning, then native threads
        from oslo_config import cfg
        from oslo_threading_backend import service
        eventlet.monkey_patch()
        try:
            service.ServiceLauncher(cfg.ConfigOpts())
        except RuntimeError as exc:
            print("refused:", exc)
        else:
            raise SystemExit("a launcher was built on green threads")
        """
    )
    assert done.returncode == 0, done.stderr + done.stdout
    assert "refused: eventlet has monkey-patched this process" in done.stdout
