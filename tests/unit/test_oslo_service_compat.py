"""oslo_service_compat.install(): oslo.service's imports answered by this package.

install() holds for the whole process, so each test runs its scenario in a
fresh interpreter and reads what it printed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from oslo_threading_backend import oslo_service_compat
from tests.installed import installed

HAS_OSLO_SERVICE = installed("oslo.service")
needs_oslo_service = pytest.mark.skipif(
    not HAS_OSLO_SERVICE, reason="oslo.service is not installed (tox -e openstack has it)"
)


def run_python(code: str) -> dict:
    """Run ``code`` in a fresh interpreter; it prints one JSON document, returned here."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OSLO_THREADING_EXEC")}
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@needs_oslo_service
def test_both_import_forms_give_our_modules():
    result = run_python(
        """
        import json
        from oslo_threading_backend import oslo_service_compat
        oslo_service_compat.install()
        import oslo_service.service
        from oslo_service import fixture, loopingcall, periodic_task, service, systemd
        from oslo_service import threadgroup
        import oslo_threading_backend.service as ours
        names = {m.__name__: m.__spec__.name for m in
                 (service, threadgroup, loopingcall, periodic_task, systemd, fixture)}
        print(json.dumps({
            "same": oslo_service.service is service is ours,
            "names": names,
            "answered": oslo_service_compat.answered(),
        }))
        """
    )
    assert result["same"] is True
    module = "oslo_threading_backend.{}"
    assert result["names"] == {
        module.format(n): module.format(n)
        for n in ("service", "threadgroup", "loopingcall", "periodic_task", "systemd", "fixture")
    }
    # Our service module imports oslo_service.backend.base (to register with it).
    assert set(result["answered"]) <= {
        *oslo_service_compat.ALIASES,
        "oslo_service.backend",
        "oslo_service.backend.exceptions",
    }
    assert set(oslo_service_compat.ALIASES) <= set(result["answered"])


@needs_oslo_service
def test_backend_selection_is_ours_and_the_rest_of_oslo_service_stays_its_own():
    result = run_python(
        """
        import json, sys
        from oslo_threading_backend import oslo_service_compat
        oslo_service_compat.install()
        import oslo_service.backend as backend  # as nova/monkey_patch.py does
        backend.init_backend(backend.BackendType.THREADING)
        from oslo_service.backend import base, exceptions
        from oslo_service import opts
        import oslo_threading_backend.backend as ours
        try:
            backend.init_backend(backend.BackendType.EVENTLET)
            refused = None
        except exceptions.BackendAlreadySelected as exc:
            refused = str(exc)
        print(json.dumps({
            "type": backend.get_backend_type() is ours.BackendType.THREADING,
            "launcher": backend.get_component("ProcessLauncher").__module__,
            "cached": backend._cached_backend_type is ours.BackendType.THREADING,
            "base": base.__file__,
            "opts": opts.__file__,
            "refused": refused,
            "green": [m for m in sys.modules if m.split(".")[0] in ("eventlet", "greenlet")],
        }))
        """
    )
    assert result["type"] and result["cached"]
    assert result["launcher"] == "oslo_threading_backend.service"
    for name in ("base", "opts"):
        assert f"{os.sep}oslo_service{os.sep}" in result[name]
    assert "'threading' backend is already selected" in result["refused"]
    assert "answered here by oslo_threading_backend" in result["refused"]
    assert result["green"] == []


@needs_oslo_service
def test_an_oslo_service_servicebase_subclass_is_ours_and_launches():
    result = run_python(
        """
        import json
        from oslo_threading_backend import oslo_service_compat
        oslo_service_compat.install()
        from oslo_config import cfg
        from oslo_service import service

        class Svc(service.ServiceBase):
            calls = []
            def start(self): self.calls.append("start")
            def stop(self): self.calls.append("stop")
            def wait(self): self.calls.append("wait")
            def reset(self): self.calls.append("reset")

        launcher = service.Launcher(cfg.ConfigOpts())
        launcher.launch_service(Svc())
        launcher.stop()
        launcher.wait()
        print(json.dumps({"calls": Svc.calls}))
        """
    )
    assert result["calls"][0] == "start"
    assert "stop" in result["calls"] and "wait" in result["calls"]


@needs_oslo_service
def test_install_is_idempotent():
    result = run_python(
        """
        import json, sys
        from oslo_threading_backend import oslo_service_compat
        oslo_service_compat.install()
        from oslo_service import systemd
        oslo_service_compat.install()
        print(json.dumps({
            "finders": sum(type(f).__name__ == "_OsloServiceFinder" for f in sys.meta_path),
            "installed": oslo_service_compat.is_installed(),
        }))
        """
    )
    assert result == {"finders": 1, "installed": True}


@needs_oslo_service
def test_install_after_oslo_service_modules_were_imported_fails_naming_them():
    result = run_python(
        """
        import json
        import oslo_service.systemd, oslo_service.periodic_task
        from oslo_threading_backend import oslo_service_compat
        try:
            oslo_service_compat.install()
            error = None
        except oslo_service_compat.AlreadyImportedError as exc:
            error = str(exc)
        print(json.dumps({"error": error, "installed": oslo_service_compat.is_installed()}))
        """
    )
    assert result["installed"] is False
    # periodic_task imports oslo_service.backend and its exceptions module.
    assert result["error"].startswith(
        "oslo_service.periodic_task, oslo_service.systemd, oslo_service.backend, "
        "oslo_service.backend.exceptions already imported as oslo.service's own modules"
    )
    assert "before anything imports them" in result["error"]


@pytest.mark.skipif(HAS_OSLO_SERVICE, reason="oslo.service is installed here")
def test_install_without_oslo_service_says_what_to_install():
    with pytest.raises(ImportError, match="oslo.service is not installed"):
        oslo_service_compat.install()
    assert not oslo_service_compat.is_installed()


@needs_oslo_service
def test_install_after_importing_our_modules_replaces_the_unused_oslo_service_backend():
    # Our ServiceBase registers with oslo_service.backend.base when oslo.service
    # is installed, which imports oslo_service.backend: install() still works.
    result = run_python(
        """
        import json, sys
        import oslo_threading_backend.service as ours
        imported_before = "oslo_service.backend" in sys.modules
        from oslo_threading_backend import oslo_service_compat
        oslo_service_compat.install()
        import oslo_service
        import oslo_service.backend.base
        from oslo_service import backend, service
        from oslo_service.backend import base

        class Svc(service.ServiceBase):
            def start(self): pass
            def stop(self): pass
            def wait(self): pass
            def reset(self): pass

        print(json.dumps({
            "imported_before": imported_before,
            "ours": service is ours,
            "backend_ours": oslo_service.backend is backend
                and backend.get_backend_type() is not None,
            "base_attribute": oslo_service.backend.base is base,
            "isinstance_theirs": isinstance(Svc(), base.ServiceBase),
        }))
        """
    )
    assert result == {
        "imported_before": True,
        "ours": True,
        "backend_ours": True,
        "base_attribute": True,
        "isinstance_theirs": True,
    }


@needs_oslo_service
def test_install_after_importing_our_periodic_task_replaces_what_only_we_imported():
    # Our InvalidPeriodicTaskArg subclasses oslo.service's, which imports the real
    # oslo_service.periodic_task: nobody else holds it, so install() answers it.
    result = run_python(
        """
        import json
        import oslo_threading_backend.periodic_task as ours
        from oslo_threading_backend import oslo_service_compat
        oslo_service_compat.install()
        import oslo_service.periodic_task
        from oslo_service import periodic_task
        print(json.dumps({
            "ours": periodic_task is ours and oslo_service.periodic_task is ours,
        }))
        """
    )
    assert result == {"ours": True}


@needs_oslo_service
def test_install_after_a_backend_was_selected_through_oslo_service_is_refused():
    result = run_python(
        """
        import json
        import oslo_service.backend as backend
        backend.init_backend(backend.BackendType.THREADING)
        from oslo_threading_backend import oslo_service_compat
        try:
            oslo_service_compat.install()
            error = None
        except oslo_service_compat.AlreadyImportedError as exc:
            error = str(exc)
        print(json.dumps({"error": error}))
        """
    )
    assert result["error"].startswith("oslo_service.backend, oslo_service.backend.exceptions")
