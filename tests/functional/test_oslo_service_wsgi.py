"""``import oslo_service.wsgi`` works under oslo-threading-exec; only ``wsgi.Server()`` refuses.

As on oslo.service's own threading backend: a module that merely imports
``oslo_service.wsgi`` (or a test patching ``oslo_service.wsgi.Server``) works,
and ``Server()`` raises oslo.service's ``UnsupportedBackendError`` saying what
to use instead. No eventlet (nor greenlet) is loaded, and ``import eventlet``
stays refused to everyone else.
"""

from __future__ import annotations

import sys

import pytest

from tests.functional.test_oslo_threading_exec import needs_oslo_service
from tests.functional.test_oslo_threading_exec import run_exec

PROGRAM = """
import sys
from unittest import mock

{first}
import oslo_service.wsgi as wsgi
from oslo_config import cfg
from oslo_service import service
from oslo_service.backend.exceptions import UnsupportedBackendError

print("service", service.__name__)
green = sorted(m for m in sys.modules if m.split(".")[0] in ("eventlet", "greenlet"))
print("green", green)
with mock.patch("oslo_service.wsgi.Server") as server:
    wsgi.Server(cfg.CONF, "api", None)
print("patched", server.called)
try:
    wsgi.Server(cfg.ConfigOpts(), "api", None)
except UnsupportedBackendError as exc:
    print("refused", exc)
print("loader", wsgi.Loader.__name__, wsgi.Router.__name__)
try:
    import eventlet
except ImportError as exc:
    print("eventlet refused", type(exc).__name__)
else:
    print("eventlet imported", eventlet)
"""


@needs_oslo_service
@pytest.mark.parametrize(
    "first",
    ["from oslo_service import service  # the backend first", "# oslo_service.wsgi first"],
    ids=["backend-first", "wsgi-first"],
)
def test_oslo_service_wsgi_imports_and_its_server_refuses(tmp_path, first):
    script = tmp_path / "api.py"
    script.write_text(PROGRAM.format(first=first))
    done = run_exec(sys.executable, str(script))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "service oslo_threading_backend.service", done.stdout
    assert lines[1] == "green []", done.stdout
    assert lines[2] == "patched True", done.stdout
    assert lines[3].startswith("refused oslo_service.wsgi.Server is an eventlet WSGI server")
    assert "standalone WSGI server" in lines[3]
    assert lines[4] == "loader Loader Router", done.stdout
    assert lines[5] == "eventlet refused EventletBlockedError", done.stdout
