"""oslo.service's own exception classes, for ours to subclass when it is installed.

Code written for oslo.service catches its classes (``except
oslo_service.loopingcall.LoopingCallDone``); with oslo.service installed, each
of our exceptions that oslo.service also defines subclasses oslo.service's, so
that code catches ours too. Without oslo.service nothing is imported.

Only the modules where oslo.service really defines each class are imported,
never ``oslo_service.service``, ``loopingcall`` or ``threadgroup``: those
select a backend (and may import eventlet) when imported. The modules named
here import neither eventlet nor a backend (tests/unit/test_exceptions.py
checks it in a fresh interpreter).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys

# Where oslo.service 4.x really defines each class (its public modules
# re-export them: oslo_service.loopingcall.LoopingCallDone is the
# _common.loopingcall one under either backend).
DEFINED_IN = {
    "BackendAlreadySelected": "oslo_service.backend.exceptions",
    "BackendComponentNotAvailable": "oslo_service.backend.exceptions",
    "UnsupportedBackendError": "oslo_service.backend.exceptions",
    "LoopingCallDone": "oslo_service.backend._common.loopingcall",
    "LoopingCallTimeOut": "oslo_service.backend._common.loopingcall",
    "SignalExit": "oslo_service.backend._common.service",
    "InvalidPeriodicTaskArg": "oslo_service.periodic_task",
}


#: oslo.service modules that base() imported (nobody else had): oslo_service_compat
#: may still replace them with ours, as nothing of the application holds them.
imported_here: set[str] = set()


def base(name: str) -> tuple[type[BaseException], ...]:
    """``(oslo.service's class named name,)`` to list first among our class's bases, or ``()``.

    ``()`` when oslo.service is not installed, lacks the class, or the module
    is answered by this package (then its class is ours already).
    """
    try:
        if importlib.util.find_spec("oslo_service") is None:
            return ()
        module_name = DEFINED_IN[name]
        if module_name not in sys.modules:
            imported_here.add(module_name)
        found = getattr(importlib.import_module(module_name), name)
    except Exception:  # ImportError, or a module of ours half imported (AttributeError)
        return ()
    if (
        not isinstance(found, type)
        or not issubclass(found, BaseException)
        or found.__module__.split(".")[0] != "oslo_service"
    ):
        return ()
    return (found,)
