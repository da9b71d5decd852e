import logging

import pytest

from oslo_threading_backend._cli import startup_log as _startup_log


class _Collect(logging.Handler):
    def __init__(self, level=logging.NOTSET):
        super().__init__(level)
        self.lines: list[str] = []

    def emit(self, record):
        self.lines.append(f"{record.name} {record.levelname} {record.getMessage()}")


@pytest.fixture
def root_handler():
    root = logging.getLogger()
    handler = _Collect(logging.INFO)
    saved, level = root.handlers[:], root.level
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.handlers[:] = saved
        root.setLevel(level)


def test_records_are_held_then_passed_on_in_order_at_each_handlers_level(root_handler):
    with _startup_log.held():
        logging.getLogger("oslo_threading_backend.backend").info("selecting")
        logging.getLogger("oslo_threading_backend.backend").info("selected")
        assert root_handler.lines == []
    assert root_handler.lines == [
        "oslo_threading_backend.backend INFO selecting",
        "oslo_threading_backend.backend INFO selected",
    ]
    handlers = logging.getLogger().handlers
    assert root_handler in handlers
    assert not any(isinstance(h, _startup_log.HeldRecords) for h in handlers)
    assert logging.getLogger("oslo_threading_backend.backend").propagate
    assert logging.getLogRecordFactory() is logging.LogRecord


def test_the_targets_first_line_releases_the_held_ones_first_time_order(root_handler):
    # The demo's "Demo state in ..." was printed before the earlier
    # "Selecting concurrency backend ...", held until the block ended.
    with _startup_log.held():
        logging.getLogger("oslo_threading_backend.backend").info("selecting")
        logging.getLogger("hello").debug("below the handler's level")
        logging.getLogger("hello").warning("the target's warning")
        logging.getLogger("oslo_threading_backend.backend").info("after the target's line")
    assert root_handler.lines == [
        "oslo_threading_backend.backend INFO selecting",
        "hello WARNING the target's warning",
        "oslo_threading_backend.backend INFO after the target's line",
    ]


def test_a_failure_before_the_target_logged_drops_the_startup_lines(root_handler):
    with pytest.raises(RuntimeError), _startup_log.held() as held:
        logging.getLogger("oslo_threading_backend.backend").info("selecting")
        logging.getLogger("oslo_threading_backend.backend").warning("two entry points")
        held.drop_startup_lines()
        raise RuntimeError("usage error")
    assert root_handler.lines == ["oslo_threading_backend.backend WARNING two entry points"]


def test_lines_the_target_logged_before_failing_stay_in_order(root_handler):
    with pytest.raises(RuntimeError), _startup_log.held() as held:
        logging.getLogger("oslo_threading_backend.backend").info("selecting")
        logging.getLogger("oslo_threading_backend.backend").warning("two entry points")
        logging.getLogger("hello").info("opening the database")
        held.drop_startup_lines()
        raise RuntimeError("usage error")
    assert root_handler.lines == [
        "oslo_threading_backend.backend INFO selecting",
        "oslo_threading_backend.backend WARNING two entry points",
        "hello INFO opening the database",
    ]


def test_a_record_factory_the_target_sets_keeps_working(root_handler):
    made = []

    def theirs(*args, **kwargs):
        record = ours(*args, **kwargs)
        made.append(record.name)
        return record

    with _startup_log.held():
        ours = logging.getLogRecordFactory()
        logging.setLogRecordFactory(theirs)
        logging.getLogger("oslo_threading_backend.backend").info("selecting")
    logging.getLogger("hello").info("after start")
    assert made == ["oslo_threading_backend.backend", "hello"]
    assert root_handler.lines == [
        "oslo_threading_backend.backend INFO selecting",
        "hello INFO after start",
    ]
    logging.setLogRecordFactory(logging.LogRecord)


def test_logging_the_factory_sets_up_stays_set_up(root_handler):
    # A factory that calls oslo.log's logging.setup() (or adds a handler) keeps it:
    # the root logger's handlers used to be swapped for the block and put back.
    own = _Collect()
    with _startup_log.held():
        logging.getLogger().addHandler(own)
        logging.getLogger("hello").info("from the factory")
    logging.getLogger("hello").info("after start")
    assert own.lines == ["hello INFO from the factory", "hello INFO after start"]
    logging.getLogger().removeHandler(own)
