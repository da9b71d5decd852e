import signal

from oslo_config import cfg
import pytest

from oslo_threading_backend import executors
from oslo_threading_backend import thread_dump


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


@pytest.fixture(autouse=True)
def _restore_thread_dump_signal():
    """A launcher a test starts and never stops leaves its SIGUSR2 dump installed: undo it."""
    previous = signal.getsignal(signal.SIGUSR2)
    yield
    if thread_dump.installed_signal() is not None:
        thread_dump.uninstall()
    signal.signal(signal.SIGUSR2, previous)
