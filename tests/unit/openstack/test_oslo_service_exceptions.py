"""With oslo.service installed, ``except oslo_service.X`` catches our X too.

Skipped without oslo.service (the ``openstack`` tox env has it). oslo.service's
public loopingcall/service/threadgroup modules select a backend when imported:
the tests, like the package, import only the modules that define the classes.
"""

import importlib
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip(
    "oslo_service.backend.exceptions",
    reason="oslo.service is not installed (tox -e openstack has it)",
)

from oslo_threading_backend import backend  # noqa: E402
from oslo_threading_backend import loopingcall  # noqa: E402
from oslo_threading_backend import periodic_task  # noqa: E402
from oslo_threading_backend._openstack import oslo_service_classes as _oslo_service_classes  # noqa: E402
from oslo_threading_backend._processes import signals as _signals  # noqa: E402

OURS = {
    "BackendAlreadySelected": backend.BackendAlreadySelected,
    "BackendComponentNotAvailable": backend.BackendComponentNotAvailable,
    "UnsupportedBackendError": backend.UnsupportedBackendError,
    "LoopingCallDone": loopingcall.LoopingCallDone,
    "LoopingCallTimeOut": loopingcall.LoopingCallTimeOut,
    "SignalExit": _signals.SignalExit,
    "InvalidPeriodicTaskArg": periodic_task.InvalidPeriodicTaskArg,
}


def _theirs(name):
    return getattr(importlib.import_module(_oslo_service_classes.DEFINED_IN[name]), name)


def _make(cls):
    if cls is _signals.SignalExit:
        return cls(15)
    return cls()


def test_every_class_oslo_service_defines_is_covered():
    assert set(OURS) == set(_oslo_service_classes.DEFINED_IN)


@pytest.mark.parametrize("name", sorted(OURS))
def test_code_catching_oslo_services_class_catches_ours(name):
    theirs = _theirs(name)
    assert theirs.__module__.startswith("oslo_service.")
    try:
        raise _make(OURS[name])
    except theirs as exc:
        assert type(exc) is OURS[name]


def test_ours_keep_their_own_behaviour():
    exit_ = _signals.SignalExit(15, exccode=3)
    assert (exit_.signo, exit_.code) == (15, 3)
    assert isinstance(exit_, SystemExit)
    assert loopingcall.LoopingCallDone(7).retvalue == 7
    assert loopingcall.LoopingCallDone().retvalue is True
    missing = backend.BackendComponentNotAvailable("no such component")
    assert isinstance(missing, KeyError) and str(missing) == "no such component"
    assert "threading backend" in str(backend.UnsupportedBackendError())
    assert isinstance(periodic_task.InvalidPeriodicTaskArg("spacing"), TypeError)


def test_oslo_services_looping_call_done_ends_our_looping_call():
    # Code written for oslo.service raises its own class inside our call.
    theirs = _theirs("LoopingCallDone")

    def done():
        raise theirs(retvalue="theirs")

    call = loopingcall.FixedIntervalLoopingCall(done)
    assert call.start(interval=0.01).wait(10) == "theirs"


def test_finding_oslo_services_classes_selects_no_backend_and_imports_no_eventlet():
    # (futurist imports eventlet when installed: only the lookup is checked here.)
    code = textwrap.dedent(
        """
        import sys
        from oslo_threading_backend._openstack import oslo_service_classes as classes
        import oslo_service.backend as oslo_backend
        found = [classes.base(name) for name in sorted(classes.DEFINED_IN)]
        assert all(len(bases) == 1 for bases in found), found
        loaded = sorted(m for m in sys.modules if m.startswith("oslo_service"))
        print("eventlet" in sys.modules, oslo_backend._cached_backend, loaded)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    eventlet_loaded, cached_backend, loaded = out.split(" ", 2)
    assert (eventlet_loaded, cached_backend) == ("False", "None"), out
    for selecting in ("service", "loopingcall", "threadgroup", "backend._eventlet"):
        assert f"'oslo_service.{selecting}'" not in loaded, out
