"""Hold the runner's start-up log records until it knows the command line works.

The backend is selected (and says so at INFO) before the target is imported,
so a misspelt target would print two INFO lines before its one-line error.
While :func:`held` is active the root logger's records are kept back; they are
handed to its handlers when the block ends, except that when the service could
not be built the runner's own start-up lines below WARNING are dropped. What
the target's own code logged is always kept.
"""

from __future__ import annotations

from collections.abc import Iterator
import contextlib
import logging


class HeldRecords(logging.Handler):
    """Collects records; :meth:`drop_startup_lines` forgets the runner's own."""

    #: Loggers of what the runner does before the target runs.
    STARTUP_LOGGERS = ("oslo_threading_backend.backend", "oslo_threading_backend._eventlet_guard")

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def drop_startup_lines(self) -> None:
        self.records = [
            r
            for r in self.records
            if r.levelno >= logging.WARNING or r.name not in self.STARTUP_LOGGERS
        ]


@contextlib.contextmanager
def held() -> Iterator[HeldRecords]:
    """Hold the root logger's records for the block, then pass them on in order."""
    root = logging.getLogger()
    holder = HeldRecords()
    handlers = root.handlers[:]
    root.handlers[:] = [holder]
    try:
        yield holder
    finally:
        root.handlers[:] = handlers
        for record in holder.records:
            for handler in handlers:
                if record.levelno >= handler.level:
                    handler.handle(record)
