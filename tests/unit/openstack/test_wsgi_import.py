"""oslo_service.wsgi imports on the threading backend without eventlet; Server() refuses.

Each case runs in a fresh interpreter: the backend, the eventlet block and
oslo.service's modules are per process.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.installed import installed

pytestmark = pytest.mark.skipif(
    not installed("oslo.service"), reason="oslo.service is not installed"
)

# oslo.service's own modules (no oslo_service_compat): only our backend blocks eventlet.
DIRECT = """
import sys
from oslo_threading_backend import backend
backend.init_backend(backend.BackendType.THREADING)
import oslo_service.wsgi as wsgi
from oslo_service.backend import exceptions
from oslo_config import cfg
print(sorted(m for m in sys.modules if m.split(".")[0] in ("eventlet", "greenlet")))
try:
    wsgi.Server(cfg.ConfigOpts(), "api", None)
except exceptions.UnsupportedBackendError as exc:
    print("refused", exc)
try:
    wsgi.eventlet.GreenPool(4)
except exceptions.UnsupportedBackendError as exc:
    print("placeholder refused", exc)
print(repr(wsgi.eventlet.wsgi.HttpProtocol))
"""


def _run(code: str) -> list[str]:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_oslo_service_wsgi_imports_with_oslo_services_own_backend_module():
    lines = _run(DIRECT)
    assert lines[0] == "[]"
    assert lines[1].startswith("refused oslo_service.wsgi.Server is an eventlet WSGI server")
    assert lines[2].startswith("placeholder refused eventlet.GreenPool() cannot be called")
    assert lines[3] == "<eventlet.wsgi.HttpProtocol: not loaded (native threads)>"


def test_a_process_that_imported_eventlet_gets_oslo_services_module_untouched():
    lines = _run(
        "import eventlet\n"
        "from oslo_threading_backend import backend\n"
        "backend.init_backend(backend.BackendType.THREADING)\n"
        "import oslo_service.wsgi as wsgi\n"
        "print(wsgi.eventlet is eventlet)\n"
    )
    assert lines == ["True"]
