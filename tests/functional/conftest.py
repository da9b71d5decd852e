import pytest

from tests.functional.harness import ServiceProcess


@pytest.fixture
def service_process(tmp_path):
    """Factory of ServiceProcess runs; every process they started is killed at teardown."""
    runs = []

    def make(program="service_app.py"):
        workdir = tmp_path / f"run{len(runs)}"
        workdir.mkdir()
        run = ServiceProcess(workdir, program)
        runs.append(run)
        return run

    yield make
    for run in runs:
        run.kill_all()
