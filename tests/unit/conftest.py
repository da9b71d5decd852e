from oslo_config import cfg
import pytest

from oslo_threading_backend import executors


@pytest.fixture
def executors_conf():
    """A fresh conf for the named executors; every executor a test creates is shut down."""
    previous = executors._conf
    conf = cfg.ConfigOpts()
    executors.set_conf(conf)
    try:
        yield conf
    finally:
        executors.reset_all()
        executors._conf = previous
