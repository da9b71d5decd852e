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

    Any object with callable ``start``, ``stop``, ``wait`` and ``reset`` is
    accepted (``isinstance(obj, ServiceBase)`` is true for it), including
    subclasses of ``oslo_service.service.ServiceBase``; with oslo.service
    installed this class is registered as a virtual subclass of that one, so
    ``isinstance`` checks hold both ways.
    """

    @classmethod
    def __subclasshook__(cls, subclass: type) -> bool | Any:
        if cls is ServiceBase:
            # Abstract classes (oslo.service's own ServiceBase) are not services:
            # counting them would make registering ours on theirs a cycle.
            if getattr(subclass, "__abstractmethods__", None):
                return NotImplemented
            if all(callable(getattr(subclass, name, None)) for name in CONTRACT):
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


def _register_with_oslo_service() -> None:
    """Make our ServiceBase a virtual subclass of oslo.service's, if it is installed.

    ``oslo_service.backend.base`` imports neither eventlet nor a backend.
    """
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


_register_with_oslo_service()


def check_service_base(service: object, argument: str = "service") -> None:
    """Refuse what is not a service: a clear TypeError naming what is missing."""
    if isinstance(service, type):
        raise TypeError(
            f"{argument} must be a service instance, not the class {service.__name__} "
            f"(call it: {service.__name__}(...))"
        )
    missing = [name for name in CONTRACT if not callable(getattr(service, name, None))]
    if missing:
        raise TypeError(
            f"{argument} must implement oslo.service's ServiceBase contract "
            f"({', '.join(CONTRACT)}): {type(service).__name__} {service!r} has no "
            f"callable {', '.join(missing)}"
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
    def run_service(service: ServiceBase, done: threading.Event) -> None:
        try:
            service.start()
        except Exception:
            LOG.exception("Error starting service thread.")
            raise SystemExit(1) from None
        done.wait()
