"""Hold the runner's start-up log records until it knows the command line works.

The backend is selected (and says so at INFO) before the target is imported,
so a misspelt target would print two INFO lines before its one-line error.
While :func:`held` is active the runner's own start-up records are kept back;
they are passed on when the block ends, except that when the service could not
be built those below WARNING are dropped. What the target's own code logs is
written as it comes.
"""

from __future__ import annotations

from collections.abc import Iterator
import contextlib
import logging


class HeldRecords(logging.Handler):
    """Collects records; :meth:`drop_startup_lines` forgets the runner's own."""

    #: Loggers of what the runner does before the target runs.
    STARTUP_LOGGERS = (
        "oslo_threading_backend.backend",
        "oslo_threading_backend._openstack.eventlet_guard",
    )

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
    """Hold the runner's start-up records for the block, then pass them on in order.

    Only :attr:`HeldRecords.STARTUP_LOGGERS` are held (they stop propagating for
    the block): the root logger and its handlers are left alone, so a factory
    that sets up logging (oslo.log's ``logging.setup()``) keeps what it set up,
    and its own lines are written as they come.
    """
    holder = HeldRecords()
    loggers = [logging.getLogger(name) for name in HeldRecords.STARTUP_LOGGERS]
    saved = [(logger, logger.propagate) for logger in loggers]
    for logger in loggers:
        logger.addHandler(holder)
        logger.propagate = False
    try:
        yield holder
    finally:
        for logger, propagate in saved:
            logger.removeHandler(holder)
            logger.propagate = propagate
        for record in holder.records:
            logging.getLogger(record.name).handle(record)
