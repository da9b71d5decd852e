"""What a service is: ServiceBase, the thread-group Service, and a set of Services."""

from __future__ import annotations

import abc
import logging
import threading
from typing import Any

from oslo_threading_backend import _service_config
from oslo_threading_backend import threadgroup

LOG = logging.getLogger(__name__)


class ServiceBase(metaclass=abc.ABCMeta):
    """The contract every launcher drives.

    In a forked worker ``start()`` runs once in its own thread, ``stop()`` then
    ``wait()`` on SIGTERM, and ``reset()`` on SIGHUP; an exception from
    ``start()`` ends the worker with status 1 and the master respawns it.
    """

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


def check_service_base(service: object) -> None:
    if not isinstance(service, ServiceBase):
        raise TypeError(
            f"service must be an instance of {ServiceBase.__module__}.ServiceBase, "
            f"not {type(service).__name__} ({service!r})"
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
