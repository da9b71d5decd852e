"""Flush every logging handler before a process ends with os._exit().

cotyledon ends workers (and the master on SIGINT) with os._exit(), which skips
atexit and logging.shutdown(): buffered records would be lost.
"""

import logging


def flush_all() -> None:
    handlers = list(logging.getLogger().handlers)
    for logger in list(logging.Logger.manager.loggerDict.values()):
        if isinstance(logger, logging.Logger):
            handlers.extend(logger.handlers)
    for handler in handlers:
        try:
            handler.flush()
        except Exception:  # noqa: S110 - a broken handler must not stop an exit
            pass
