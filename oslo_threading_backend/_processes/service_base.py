"""What a service is: ServiceBase, the thread-group Service, and a set of Services."""

from __future__ import annotations

import abc
import logging
import threading
from typing import Any

from oslo_threading_backend import threadgroup
from oslo_threading_backend._openstack import service_config as _service_config

LOG = logging.getLogger(__name__)


#: oslo.service's ServiceBase contract: what every launcher calls.
CONTRACT = ("start", "stop", "wait", "reset")


class ServiceBase(metaclass=abc.ABCMeta):
    """The contract every launcher drives.

    In a forked worker ``start()`` runs once in its own thread and is followed
    there by ``wait()`` while the service runs, as in oslo.service; SIGTERM
    calls ``stop()`` at once and then waits for that ``wait()`` to return;
    SIGHUP calls ``reset()``. An exception from ``start()`` (or from ``wait()``
    before any stop) ends the worker with status 1 and the master respawns it.

    A service is an instance of this class or of ``oslo_service.service.ServiceBase``
    (oslo.service's ``oslo_service.backend.base.ServiceBase``): with oslo.service
    installed this class is registered as a virtual subclass of that one, and
    that one's subclasses count as subclasses of this one, so ``isinstance``
    checks hold both ways. An object that merely has the four methods (a
    ``mock.Mock()``) is not a service, as in oslo.service; a class that cannot
    derive from either can be declared one with ``ServiceBase.register(cls)``.
    """

    @classmethod
    def __subclasshook__(cls, subclass: type) -> bool | Any:
        # oslo.service's subclasses, by their real bases only: asking
        # issubclass(subclass, theirs) would ask theirs' registry, which holds
        # this class, which would ask this hook again.
        if cls is ServiceBase and _theirs is not None:
            if _theirs in getattr(subclass, "__mro__", ()):
                return True
        return NotImplemented

    @abc.abstractmethod
    def start(self) -> None:
        """Start service."""

    @abc.abstractmethod
    def stop(self) -> None:
        """Stop service."""

    @abc.abstractmethod
    def wait(self) -> None:
        """Wait for service to complete."""

    @abc.abstractmethod
    def reset(self) -> None:
        """Reset service: called on SIGHUP, after the config was reloaded or mutated."""


#: oslo.service's ServiceBase (``oslo_service.backend.base``), once registered with.
_theirs: type | None = None


def _register_with_oslo_service() -> None:
    """Make our ServiceBase a virtual subclass of oslo.service's, if it is installed.

    ``oslo_service.backend.base`` imports neither eventlet nor a backend.
    """
    global _theirs
    try:
        from oslo_service.backend import base as oslo_base
    except Exception:  # not installed, or not the oslo.service we know
        return
    theirs = getattr(oslo_base, "ServiceBase", None)
    if isinstance(theirs, abc.ABCMeta) and theirs is not ServiceBase:
        try:
            theirs.register(ServiceBase)
        except Exception:
            LOG.debug("Could not register ServiceBase with oslo.service's", exc_info=True)
            return
        _theirs = theirs


_register_with_oslo_service()


def _base_names() -> str:
    ours = "oslo_threading_backend.service.ServiceBase"
    return ours if _theirs is None else f"{ours} or oslo_service.service.ServiceBase"


def check_service_base(service: object, argument: str = "service") -> None:
    """Refuse what is not a service, as oslo.service does: a TypeError saying what is missing."""
    if isinstance(service, type):
        raise TypeError(
            f"{argument} must be a service instance, not the class {service.__name__} "
            f"(call it: {service.__name__}(...))"
        )
    if isinstance(service, ServiceBase):
        missing = [name for name in CONTRACT if not callable(getattr(service, name, None))]
        if missing:
            raise TypeError(
                f"{argument} {type(service).__name__} {service!r} has no callable "
                f"{', '.join(missing)} (oslo.service's ServiceBase contract: "
                f"{', '.join(CONTRACT)})"
            )
        return
    missing = [name for name in CONTRACT if not callable(getattr(service, name, None))]
    what = (
        f"it lacks {', '.join(missing)}"
        if missing
        else "it has the methods but derives from neither (subclass ServiceBase, or "
        "declare the class with ServiceBase.register())"
    )
    raise TypeError(
        f"{argument} must be an instance of {_base_names()}, not "
        f"{type(service).__module__}.{type(service).__qualname__} ({service!r}): {what}"
    )


def check_restart_method(restart_method: object) -> None:
    allowed = _service_config.RESTART_METHODS
    if restart_method not in allowed:
        raise ValueError(
            f"restart_method must be one of {', '.join(map(repr, allowed))}, "
            f"not {restart_method!r}"
        )


class Service(ServiceBase):
    """A service whose work runs in a ThreadGroup of native threads."""

    def __init__(self, threads: int = 1000) -> None:
        self.tg = threadgroup.ThreadGroup(threads)
        self.backdoor_port = None

    def __getstate__(self) -> dict[str, Any]:
        # Thread groups hold locks and threads: a spawned worker builds its own.
        state = self.__dict__.copy()
        state["_thread_pool_size"] = self.tg.thread_pool_size
        state.pop("tg", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        size = state.pop("_thread_pool_size", 1000)
        self.__dict__.update(state)
        self.tg = threadgroup.ThreadGroup(size)

    def reset(self) -> None:
        pass

    def start(self) -> None:
        pass

    def stop(self, graceful: bool = False) -> None:
        self.tg.stop(graceful)

    def wait(self) -> None:
        self.tg.waitall()


class Services:
    """Services run in this process, each started on a thread of its own."""

    def __init__(self, restart_method: str = "reload") -> None:
        check_restart_method(restart_method)
        self.restart_method = restart_method
        self.services: list[ServiceBase] = []
        self.tg = threadgroup.ThreadGroup()
        self.done = threading.Event()

    def add(self, service: ServiceBase) -> None:
        check_service_base(service)
        self.services.append(service)
        self.tg.add_thread(self.run_service, service, self.done)

    def stop(self) -> None:
        for service in self.services:
            service.stop()
        self.done.set()
        self.tg.stop()

    def wait(self) -> None:
        for service in self.services:
            service.wait()
        self.tg.wait()

    def restart(self) -> None:
        """'reload': stop, reset and start every service; 'mutate': reset only."""
        if self.restart_method == "reload":
            self.stop()
            self.wait()
            self.done = threading.Event()
        for service in self.services:
            service.reset()
            if self.restart_method == "reload":
                self.tg.add_thread(self.run_service, service, self.done)

    @staticmethod
    @threadgroup.runs_until_stopped  # the service's life, not a task: never "stuck"
    def run_service(service: ServiceBase, done: threading.Event) -> None:
        try:
            service.start()
        except Exception:
            LOG.exception("Error starting service thread.")
            raise SystemExit(1) from None
        done.wait()
