"""The integration tier's broker: one RabbitMQ node for the whole session.

With CI=true a broker that cannot be found or started fails the tier; it never
skips to green. Elsewhere the tier is skipped only when rabbitmq-server is not
installed; a broker that is installed but does not start is a failure.
"""

from __future__ import annotations

import os

import pytest

from tests.integration import broker as broker_mod
from tests.integration.harness import RpcRun


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


@pytest.fixture(scope="session")
def rabbit(tmp_path_factory):
    """A started RabbitMQ node of this session's own; ended at the end of the session."""
    script = broker_mod.find_server_script()
    if script is None:
        message = (
            "rabbitmq-server is not installed "
            "(as root: apt-get update && apt-get install -y rabbitmq-server)"
        )
        if _in_ci():
            pytest.fail(f"CI=true: {message}", pytrace=False)
        pytest.skip(message)
    node = broker_mod.RabbitBroker(tmp_path_factory.mktemp("rabbitmq"), script)
    try:
        node.start()
    except BaseException:
        node.close()
        raise
    try:
        yield node
    finally:
        node.close()


@pytest.fixture
def rpc_run(rabbit, tmp_path, request):
    """Factory of RpcRun (service + clients); every process they started ends at teardown."""
    runs = []

    def make(**kwargs):
        run = RpcRun(rabbit, tmp_path / f"run{len(runs)}", name=request.node.name, **kwargs)
        runs.append(run)
        return run

    yield make
    for run in runs:
        print(run.report())  # shown by pytest when the test failed
        run.close()
    # A test that restarted the broker leaves it running for the next one.
    if not broker_mod.accepts_amqp(rabbit.port):
        rabbit.restart()
