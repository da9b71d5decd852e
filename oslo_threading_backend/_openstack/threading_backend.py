"""The built-in ``threading`` backend: oslo.service's component names, native threads."""

from __future__ import annotations

from typing import Any

from oslo_threading_backend.backend import BaseBackend

#: Component names, identical to oslo.service 4.8's threading backend; each is
#: looked up under the same name in the module it is listed with.
_COMPONENTS: dict[str, tuple[str, ...]] = {
    "oslo_threading_backend.service": (
        "ServiceBase",
        "ServiceLauncher",
        "Launcher",
        "ProcessLauncher",
        "Service",
        "Services",
        "ServiceWrapper",
        "SignalExit",
        "SignalHandler",
        "Singleton",
        "_is_daemon",
        "_is_sighup_and_daemon",
        "launch",
    ),
    "oslo_threading_backend.loopingcall": (
        "LoopingCallBase",
        "LoopingCallDone",
        "LoopingCallTimeOut",
        "FixedIntervalLoopingCall",
        "FixedIntervalWithTimeoutLoopingCall",
        "DynamicLoopingCall",
        "BackOffLoopingCall",
        "RetryDecorator",
    ),
    "oslo_threading_backend.threadgroup": (
        "ThreadGroup",
        "Thread",
    ),
}


class ThreadingBackend(BaseBackend):
    """Services in cotyledon workers, looping calls and thread groups on native threads."""

    @staticmethod
    def get_service_components() -> dict[str, Any]:
        """Return the components, importing their modules only now.

        Imported lazily so that choosing the backend (which must happen before
        other libraries are imported) pulls in nothing heavy.
        """
        import importlib

        components: dict[str, Any] = {}
        for module_name, names in _COMPONENTS.items():
            module = importlib.import_module(module_name)
            for name in names:
                components[name] = getattr(module, name)
        return components
