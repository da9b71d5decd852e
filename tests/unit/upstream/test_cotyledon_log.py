"""cotyledon's "killed by signal -9" line names the signal, through cotyledon's own logger."""

import logging
import signal

import cotyledon  # noqa: F401 - its logger is the one filtered
import pytest

from oslo_threading_backend._upstream import cotyledon_log


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("-9", "9 (SIGKILL)"),
        (-15, "15 (SIGTERM)"),
        ("SIGSEGV", f"{int(signal.SIGSEGV)} (SIGSEGV)"),
        ("-200", "200"),
        ("SIGNOPE", "SIGNOPE"),
    ],
)
def test_describe_signal(value, text):
    assert cotyledon_log.describe_signal(value) == text


def test_cotyledons_record_names_the_signal(caplog):
    logger = logging.getLogger(cotyledon_log.LOGGER)
    cotyledon_log.install()
    cotyledon_log.install()  # idempotent
    try:
        assert logger.filters.count(cotyledon_log._FILTER) == 1
        with caplog.at_level(logging.INFO, logger=cotyledon_log.LOGGER):
            # The call cotyledon 2.2.0 makes (_service_manager._get_last_worker_died).
            from cotyledon import _utils

            sig = _utils.signal_to_name(-9)
            logger.info(cotyledon_log.MESSAGE, {"pid": 25288, "sig": sig})
            logger.info("Child %(pid)d exited with status %(code)d", {"pid": 1, "code": 2})
        assert caplog.messages == [
            "Child 25288 killed by signal 9 (SIGKILL)",
            "Child 1 exited with status 2",
        ]
    finally:
        logger.removeFilter(cotyledon_log._FILTER)
