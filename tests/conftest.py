"""Fixtures for every tier."""

import sys

import pytest

from oslo_threading_backend._threads import hung_tasks as _hung_tasks
from oslo_threading_backend._upstream import futurist_fixes as _futurist_fixes
from oslo_threading_backend._upstream import futurist_hung_tasks as _futurist_hung_tasks


@pytest.fixture(autouse=True)
def _futurist_as_installed():
    """A launcher built in a test process applies the futurist fix: take it out after the test.

    Tests that check futurist's own behaviour (tests/integration/test_rpc_service.py)
    must see futurist as it is installed, whatever ran before them.
    """
    yield
    _futurist_fixes.remove()
    _futurist_hung_tasks.remove()
    _hung_tasks.set_threshold(_hung_tasks.DEFAULT_THRESHOLD)  # a launcher set it from its conf


@pytest.fixture(autouse=True)
def _executors_usable_again():
    """A launcher stopped in a test process shuts the named executors down for good.

    Re-enable them after such a test, so that a later test's get_executor() does
    not depend on the order the tests ran in.
    """
    yield
    executors = sys.modules.get("oslo_threading_backend.executors")  # never imported here
    if executors is not None and executors._shut_down:
        executors.reset_all()
