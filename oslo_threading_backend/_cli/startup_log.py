"""Hold the runner's start-up log records until it knows the command line works.

The backend is selected (and says so at INFO) before the target is imported,
so a misspelt target would print two INFO lines before its one-line error.
While :func:`held` is active the runner's own start-up records are kept back.
They are passed on, in order, as soon as anything else is logged (the target's
own first line: the log then reads in time order) or when the block ends;
except that when the service could not be built, those still held below
WARNING are dropped.
"""

from __future__ import annotations

from collections.abc import Iterator
import contextlib
import logging
from typing import Any


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
        self._saved: list[tuple[logging.Logger, bool]] = []
        self._released = True

    def hold(self) -> None:
        """Keep the start-up loggers' records here (they stop propagating) until pass_on()."""
        with self.lock:
            self._released = False
            for logger in (logging.getLogger(name) for name in self.STARTUP_LOGGERS):
                self._saved.append((logger, logger.propagate))
                logger.addHandler(self)
                logger.propagate = False

    def emit(self, record: logging.LogRecord) -> None:
        with self.lock:
            released = self._released
            if not released:
                self.records.append(record)
        if released:  # came in while pass_on() ran: passed on as the others
            logging.getLogger(record.name).handle(record)

    def pass_on(self) -> None:
        """Put the loggers back and pass the held records on, in order; idempotent."""
        with self.lock:
            if self._released:
                return
            self._released = True
            for logger, propagate in self._saved:
                logger.removeHandler(self)
                logger.propagate = propagate
            self._saved.clear()
            records, self.records = self.records, []
        for record in records:
            logging.getLogger(record.name).handle(record)

    def drop_startup_lines(self) -> None:
        with self.lock:
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
    and its own lines are written as they come. The first record of another
    logger releases the held ones before it is handled (a log record factory
    sees it, whatever handlers the factory set up), so the lines stay in time
    order: ``Selecting concurrency backend`` came after the demo's first line.
    """
    holder = HeldRecords()
    previous = logging.getLogRecordFactory()
    active = True

    def make_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        if active and record.name not in HeldRecords.STARTUP_LOGGERS:
            holder.pass_on()
        return record

    holder.hold()
    logging.setLogRecordFactory(make_record)
    try:
        yield holder
    finally:
        active = False  # a factory set on top of ours keeps calling it: a pass-through now
        if logging.getLogRecordFactory() is make_record:
            logging.setLogRecordFactory(previous)
        holder.pass_on()
