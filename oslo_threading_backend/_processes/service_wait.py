"""The ``wait()`` that follows a service's ``start()``, as oslo.service calls it.

oslo.service calls ``start()`` and then ``wait()`` while the service runs (its
threading ServiceWrapper.run(), its eventlet launchers' wait()), and services
are written for that: a ``wait()`` that serves, or that returns when the work
is done. Our stop runs elsewhere (SIGTERM: ``stop()`` at once, then
``wait()``), so the stopper does not call ``wait()`` a second time: it waits
for the one already running to return. One ``ServiceWait`` per ``start()``.
"""

from __future__ import annotations

import logging
import threading

LOG = logging.getLogger(__name__)


class ServiceWait:
    """One call of ``service.wait()`` after ``start()``, awaited by whoever stops it.

    The stopper calls :meth:`begin_stop` before ``stop()``: if that ``wait()``
    is still running it sees the stop through and the stopper awaits it with
    :meth:`returned`; if it already returned (the service's work was done, or
    its ``wait()`` returns at once) the stopper calls ``wait()`` after
    ``stop()`` itself, so a stop is always followed by a ``wait()``.
    """

    def __init__(self, service: object, where: str) -> None:
        self.service = service
        self.where = where  # "worker 3", "this process": for the log
        self._lock = threading.Lock()
        self._stopping = False
        self._returned = threading.Event()

    def call(self) -> BaseException | None:
        """Call ``wait()`` here; returns what it raised before any stop (logged), or None."""
        error: BaseException | None = None
        try:
            self.service.wait()  # type: ignore[attr-defined]
        except Exception as exc:
            error = exc
            LOG.exception("wait() of service %s raised in %s", _name(self.service), self.where)
        finally:
            with self._lock:
                self._returned.set()
                stopping = self._stopping
        if stopping:
            return None
        if error is None:
            LOG.debug(
                "wait() of service %s returned in %s before any stop",
                _name(self.service),
                self.where,
            )
        return error

    def begin_stop(self) -> bool:
        """Before ``stop()``: True if this ``wait()`` still runs and will see the stop through."""
        with self._lock:
            self._stopping = True
            return not self._returned.is_set()

    def returned(self, timeout: float | None = None) -> bool:
        """Block until this ``wait()`` returned; True if it did."""
        return self._returned.wait(timeout)


def begin_stop(wait: ServiceWait | None) -> ServiceWait | None:
    """Before ``stop()``: the running wait() to await afterwards, or None to call wait()."""
    return wait if wait is not None and wait.begin_stop() else None


def finish_stop(service: object, pending: ServiceWait | None) -> None:
    """After ``stop()``: await the running ``wait()``, or call ``wait()`` if none runs."""
    if pending is None:
        service.wait()  # type: ignore[attr-defined]
    else:
        pending.returned()


def _name(service: object) -> str:
    return type(service).__name__
