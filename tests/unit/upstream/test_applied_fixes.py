"""The one-line summary of the upstream fixes on, and their details at DEBUG."""

import logging

import pytest

from oslo_threading_backend._upstream import applied_fixes

LOGGER = applied_fixes.__name__


@pytest.fixture(autouse=True)
def _clean():
    saved = dict(applied_fixes._on), applied_fixes._logged
    applied_fixes._on.clear()
    applied_fixes._logged = ()
    yield
    applied_fixes._on.clear()
    applied_fixes._on.update(saved[0])
    applied_fixes._logged = saved[1]


def _infos(caplog):
    return [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]


def test_one_info_line_names_every_fix_and_the_details_go_to_debug(caplog):
    with caplog.at_level(logging.DEBUG, logger=LOGGER):
        applied_fixes.applied("fix one", "what it does, at length", option="[DEFAULT] one")
        applied_fixes.applied("fix two", "more internals")
        applied_fixes.log_summary()
    assert _infos(caplog) == ["Upstream fixes applied: fix one ([DEFAULT] one), fix two"]
    debugs = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG]
    assert debugs == [
        "Upstream fix applied: fix one: what it does, at length",
        "Upstream fix applied: fix two: more internals",
    ]


def test_the_summary_is_logged_again_only_when_the_set_changed(caplog):
    with caplog.at_level(logging.INFO, logger=LOGGER):
        applied_fixes.log_summary()  # nothing on: nothing said
        applied_fixes.applied("fix one", "details")
        applied_fixes.log_summary()
        applied_fixes.applied("fix one", "details")  # again (a forked worker's apply)
        applied_fixes.log_summary()
        applied_fixes.applied("fix two", "details")
        applied_fixes.log_summary()
        applied_fixes.withdrawn("fix two")
        applied_fixes.withdrawn("not on")
        applied_fixes.log_summary()
    assert _infos(caplog) == [
        "Upstream fixes applied: fix one",
        "Upstream fixes applied: fix one, fix two",
        "Upstream fixes applied: fix one",
    ]
    assert applied_fixes.names() == ["fix one"]


def test_a_fix_needs_a_name():
    with pytest.raises(ValueError, match="name must be a non-empty str"):
        applied_fixes.applied("", "details")
    assert applied_fixes.summary() == ""
