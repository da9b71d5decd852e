"""Before a fork the master imports what the rabbit driver's first connection would.

kombu imports its AMQP transport, and Python its IDNA codec, on the first
connection: in each worker, unless the master did it before forking
(``messaging_preload.before_fork``). Each case runs in a fresh interpreter:
another test may have imported these modules already.
"""

import subprocess
import sys
import textwrap

from oslo_config import cfg
import pytest

from oslo_threading_backend import opts
from oslo_threading_backend._upstream import messaging_preload as _messaging_preload

pytest.importorskip("oslo_messaging", reason="oslo.messaging is not installed (tox -e openstack)")
pytest.importorskip("kombu", reason="kombu is not installed (tox -e openstack)")

KOMBU_TRANSPORT = "kombu.transport.pyamqp"


def _fresh(body: str) -> str:
    code = textwrap.dedent(
        """
        import sys, threading
        from oslo_config import cfg
        from oslo_threading_backend._upstream import messaging_preload as preload
        """
    ) + textwrap.dedent(body)
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


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
