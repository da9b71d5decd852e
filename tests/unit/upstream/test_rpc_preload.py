"""RPCService(preload_driver=True) imports the transport driver, and nothing more, at once;
before a fork the master imports what the rabbit driver's first connection would.

kombu imports its AMQP transport, and Python its IDNA codec, on the first
connection: in each worker, unless the master did it before forking
(``messaging_preload.before_fork``). Each case that looks at sys.modules runs
in a fresh interpreter: another test may have imported these modules already.
"""

import logging
import subprocess
import sys
import textwrap

from oslo_config import cfg
import pytest

from oslo_threading_backend import opts
from oslo_threading_backend import rpc
from oslo_threading_backend._upstream import messaging_preload as _messaging_preload

messaging = pytest.importorskip(
    "oslo_messaging", reason="oslo.messaging is not installed (tox -e openstack has it)"
)

RABBIT_DRIVER = "oslo_messaging._drivers.impl_rabbit"
KOMBU_TRANSPORT = "kombu.transport.pyamqp"


def _fresh(body: str) -> str:
    code = textwrap.dedent(
        """
        import os, sys, threading
        from oslo_config import cfg
        from oslo_threading_backend import rpc
        from oslo_threading_backend._upstream import messaging_preload as preload

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


def test_with_the_rabbit_driver_the_transport_and_idna_are_imported_once():
    out = _fresh(
        f"""
        import oslo_messaging._drivers.impl_rabbit
        assert {KOMBU_TRANSPORT!r} not in sys.modules, "impl_rabbit imports it itself now"
        had_idna = "encodings.idna" in sys.modules  # some oslo.messaging versions import it
        first = preload.before_fork()
        expected = [{KOMBU_TRANSPORT!r}] + ([] if had_idna else ["encodings.idna"])
        print(sorted(first) == sorted(expected))
        print({KOMBU_TRANSPORT!r} in sys.modules, "encodings.idna" in sys.modules)
        print(preload.before_fork(), threading.active_count())
        """
    )
    assert out.splitlines() == [
        "True",
        "True True",
        "[] 1",  # nothing twice; no thread started
    ]


def test_without_the_rabbit_driver_nothing_is_imported():
    out = _fresh(
        f"""
        print(preload.before_fork(), "kombu" in sys.modules, {KOMBU_TRANSPORT!r} in sys.modules)
        """
    )
    assert out == "[] False False"


def test_the_option_turns_it_off():
    out = _fresh(
        f"""
        import oslo_messaging._drivers.impl_rabbit
        conf = cfg.ConfigOpts()
        conf([])
        preload.apply_for(conf)
        assert conf.preload_transport_modules is True
        conf.set_override("preload_transport_modules", False)
        preload.apply_for(conf)
        print(preload.before_fork(), {KOMBU_TRANSPORT!r} in sys.modules)
        """
    )
    assert out == "[] False"


def test_a_kombu_that_cannot_give_the_transport_is_skipped_quietly():
    out = _fresh(
        f"""
        import logging
        import oslo_messaging._drivers.impl_rabbit
        import kombu.transport
        def broken(name):
            raise ImportError("no module named amqp (broken install)")
        kombu.transport.resolve_transport = broken
        logging.basicConfig(
            level=logging.DEBUG, stream=sys.stdout, format="%(levelname)s %(message)s"
        )
        print(preload.before_fork(), {KOMBU_TRANSPORT!r} in sys.modules)
        """
    )
    line = "DEBUG kombu's 'amqp' transport not imported before the fork: no module named amqp"
    assert line in out
    assert out.splitlines()[-1].endswith("] False")
    assert KOMBU_TRANSPORT not in out.splitlines()[-1].partition("]")[0]


def test_the_option_is_listed_for_the_config_generator():
    listed = {opt.name for group, group_opts in opts.list_opts() for opt in group_opts}
    assert _messaging_preload.OPTION in listed
    conf = cfg.ConfigOpts()
    _messaging_preload.apply_for(conf)
    assert conf.preload_transport_modules is True


def test_one_info_line_names_what_was_imported_and_the_option():
    out = _fresh(
        """
        import logging
        import oslo_messaging._drivers.impl_rabbit
        logging.basicConfig(
            level=logging.INFO, stream=sys.stdout, format="%(levelname)s %(message)s"
        )
        preload.before_fork()
        preload.before_fork()  # the next fork: nothing to import, nothing said
        """
    )
    lines = [line for line in out.splitlines() if "before forking the workers" in line]
    assert len(lines) == 1
    assert lines[0].startswith("INFO Imported before forking the workers, so that they share")
    assert "([DEFAULT] preload_transport_modules)" in lines[0]
    assert KOMBU_TRANSPORT in lines[0]
