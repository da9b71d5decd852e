"""RPCService(preload_driver=True) imports the transport driver, and nothing more, at once.

Each case that looks at sys.modules runs in a fresh interpreter: another test
may have imported the driver already.
"""

import logging
import subprocess
import sys
import textwrap

from oslo_config import cfg
import pytest

from oslo_threading_backend import rpc
from oslo_threading_backend._upstream import messaging_preload as _messaging_preload

messaging = pytest.importorskip(
    "oslo_messaging", reason="oslo.messaging is not installed (tox -e openstack has it)"
)

RABBIT_DRIVER = "oslo_messaging._drivers.impl_rabbit"


def _fresh(body: str) -> str:
    code = textwrap.dedent(
        """
        import os, sys, threading
        from oslo_config import cfg
        from oslo_threading_backend import rpc

        def sockets():
            return sum(
                os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
                for fd in os.listdir("/proc/self/fd")
                if os.path.exists(f"/proc/self/fd/{fd}")
            )

        conf = cfg.ConfigOpts()
        conf([])
        before = sockets()
        """
    ) + textwrap.dedent(body)
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_the_driver_is_imported_with_no_thread_and_no_socket():
    out = _fresh(
        f"""
        assert {RABBIT_DRIVER!r} not in sys.modules
        rpc.RPCService(conf, [object()], topic="t")
        print({RABBIT_DRIVER!r} in sys.modules, threading.active_count(), sockets() - before)
        """
    )
    assert out == "True 1 0"


def test_preload_driver_false_leaves_the_import_to_start():
    out = _fresh(
        f"""
        rpc.RPCService(conf, [object()], topic="t", preload_driver=False)
        print({RABBIT_DRIVER!r} in sys.modules)
        """
    )
    assert out == "False"


def test_a_given_transport_is_not_preloaded_for():
    out = _fresh(
        f"""
        rpc.RPCService(conf, [object()], topic="t", transport=object())
        print({RABBIT_DRIVER!r} in sys.modules)
        """
    )
    assert out == "False"


def test_the_driver_is_the_transport_url_scheme_as_oslo_messaging_reads_it():
    conf = cfg.ConfigOpts()
    conf([])
    assert _messaging_preload.driver_name(conf, messaging) == "rabbit"  # the default URL
    conf.set_override("transport_url", "kafka+tls://h:9092/")
    assert _messaging_preload.driver_name(conf, messaging) == "kafka"


def _conf_with_url(url: str) -> cfg.ConfigOpts:
    conf = cfg.ConfigOpts()
    conf([])
    messaging.TransportURL.parse(conf)  # registers transport_url
    conf.set_override("transport_url", url)
    return conf


def _skipped_quietly(conf: cfg.ConfigOpts, caplog) -> str:
    """preload_driver() skips: None, nothing at WARNING or above; the debug lines."""
    with caplog.at_level(logging.DEBUG):
        assert _messaging_preload.preload_driver(conf, messaging) is None
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    return "\n".join(r.getMessage() for r in caplog.records)


def test_an_unknown_driver_is_skipped_quietly(caplog):
    conf = _conf_with_url("nosuchdriver://h/")
    assert "not imported before the fork" in _skipped_quietly(conf, caplog)
    rpc.RPCService(conf, [object()], topic="t")  # start() raises it, in the worker


def test_a_driver_that_cannot_be_imported_is_skipped_quietly(caplog):
    try:
        import confluent_kafka  # noqa: F401 - oslo.messaging's kafka driver needs it
    except ImportError:
        pass
    else:
        pytest.skip("confluent_kafka is installed: the kafka driver imports")
    assert "confluent_kafka" in _skipped_quietly(_conf_with_url("kafka://h:9092/"), caplog)


def test_a_bad_transport_url_is_left_to_start(caplog):
    assert "No scheme specified" in _skipped_quietly(_conf_with_url("no-scheme"), caplog)


@pytest.mark.parametrize("value", ["yes", 1, None])
def test_preload_driver_must_be_a_bool(value):
    with pytest.raises(TypeError, match="preload_driver must be True or False"):
        rpc.RPCService(cfg.ConfigOpts(), [object()], topic="t", preload_driver=value)
