"""Fixtures for every tier."""

import pytest

from oslo_threading_backend import _futurist_fixes


@pytest.fixture(autouse=True)
def _futurist_as_installed():
    """A launcher built in a test process applies the futurist fix: take it out after the test.

    Tests that check futurist's own behaviour (tests/integration/test_rpc_service.py)
    must see futurist as it is installed, whatever ran before them.
    """
    yield
    _futurist_fixes.remove()
