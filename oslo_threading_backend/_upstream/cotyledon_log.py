"""cotyledon 2.2.0's "Child N killed by signal -9": the signal named, ``signal 9 (SIGKILL)``.

cotyledon's supervisor logs a worker that died of a signal with
``_utils.signal_to_name(process.exitcode)``; multiprocessing's exit code of a
killed process is the signal negated, which the name table does not know, so
the line read ``Child 25288 killed by signal -9``. A filter on cotyledon's
logger rewrites that record (only that one) to ``Child 25288 killed by signal
9 (SIGKILL)``; a cotyledon that names the signal itself is left as it is.
"""

from __future__ import annotations

import logging
import signal

#: cotyledon's logger and message (cotyledon/_service_manager.py, 2.2.0).
LOGGER = "cotyledon._service_manager"
MESSAGE = "Child %(pid)d killed by signal %(sig)s"


def describe_signal(value: object) -> str:
    """``9 (SIGKILL)`` for -9, 9, '-9' or 'SIGKILL'; the value as it was if unknown."""
    text = str(value).strip()
    try:
        number = abs(int(text))
    except ValueError:
        try:
            number = int(signal.Signals[text])
        except KeyError:
            return text
    try:
        return f"{number} ({signal.Signals(number).name})"
    except ValueError:
        return str(number)


class SignalNameFilter(logging.Filter):
    """Rewrites cotyledon's killed-by-signal record; lets every record through."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg == MESSAGE and isinstance(record.args, dict) and "sig" in record.args:
            record.args = {**record.args, "sig": describe_signal(record.args["sig"])}
        return True


_FILTER = SignalNameFilter()


def install() -> None:
    """Put the filter on cotyledon's logger; idempotent."""
    logger = logging.getLogger(LOGGER)
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)
