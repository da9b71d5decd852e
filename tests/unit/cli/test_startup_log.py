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
        logging.getLogger("hello").debug("below the handler's level")
        logging.getLogger("hello").warning("the target's warning")
        assert root_handler.lines == ["hello WARNING the target's warning"]
    assert root_handler.lines == [
        "hello WARNING the target's warning",
        "oslo_threading_backend.backend INFO selecting",
    ]
    handlers = logging.getLogger().handlers
    assert root_handler in handlers
    assert not any(isinstance(h, _startup_log.HeldRecords) for h in handlers)


def test_dropping_startup_lines_keeps_warnings_and_the_targets_own(root_handler):
    with pytest.raises(RuntimeError), _startup_log.held() as held:
        logging.getLogger("oslo_threading_backend.backend").info("selecting")
        logging.getLogger("oslo_threading_backend.backend").warning("two entry points")
        logging.getLogger("hello").info("opening the database")
        held.drop_startup_lines()
        raise RuntimeError("usage error")
    assert root_handler.lines == [
        "hello INFO opening the database",
        "oslo_threading_backend.backend WARNING two entry points",
    ]


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
