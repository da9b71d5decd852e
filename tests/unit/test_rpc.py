"""rpc.RPCService's arguments and the optional extra; serving is in tests/integration."""

import subprocess
import sys

from oslo_config import cfg
import pytest

from oslo_threading_backend import rpc


def test_the_package_and_rpc_import_without_oslo_messaging():
    code = (
        "import sys\n"
        "import oslo_threading_backend.rpc, oslo_threading_backend.service\n"
        "assert 'oslo_messaging' not in sys.modules, 'oslo_messaging imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_without_the_extra_rpcservice_names_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "oslo_messaging", None)  # as if not installed
    with pytest.raises(ImportError, match=r"oslo_threading_backend\[messaging\]"):
        rpc.RPCService(cfg.ConfigOpts(), [object()], topic="t")


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"conf": object()}, TypeError, "conf must be an oslo_config.cfg.ConfigOpts"),
        ({"endpoints": "manager"}, TypeError, "endpoints must be a list"),
        ({"endpoints": None}, TypeError, "endpoints must be a list"),
        ({"executor": "eventlet"}, ValueError, "executor must be one of 'native', 'futurist'"),
        ({"topic": None}, ValueError, "exactly one of topic and target"),
        ({"topic": ""}, TypeError, "topic must be a non-empty string"),
        ({"topic": 3}, TypeError, "topic must be a non-empty string"),
        ({"target": object()}, ValueError, "exactly one of topic and target"),
        ({"topic": None, "target": object(), "server": "s"}, ValueError, "server in the target"),
    ],
)
def test_bad_arguments_are_refused_by_name(kwargs, error, message):
    arguments = {"conf": cfg.ConfigOpts(), "endpoints": [object()], "topic": "t", **kwargs}
    with pytest.raises(error, match=message):
        rpc.RPCService(**arguments)
