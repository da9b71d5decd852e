"""Launcher and Services: services on threads of this process, restart included."""

import pickle
import threading

from oslo_config import cfg
import pytest

from oslo_threading_backend import service

TIMEOUT = 10


class Recorder(service.Service):
    def __init__(self):
        super().__init__()
        self.calls = []
        self.started = threading.Event()

    def start(self):
        self.calls.append("start")
        self.started.set()

    def stop(self, graceful=False):
        self.calls.append("stop")
        super().stop(graceful)

    def reset(self):
        self.calls.append("reset")


@pytest.fixture
def conf(tmp_path):
    path = tmp_path / "a.conf"
    path.write_text("[DEFAULT]\ngraceful_shutdown_timeout = 5\n")
    c = cfg.ConfigOpts()
    c(["--config-file", str(path)], project="test")
    return c


def _launch(conf, restart_method):
    launcher = service.Launcher(conf, restart_method=restart_method)
    svc = Recorder()
    launcher.launch_service(svc)
    assert svc.started.wait(TIMEOUT)
    return launcher, svc


def test_launcher_runs_the_service_on_a_thread_and_stops_it(conf):
    launcher, svc = _launch(conf, "reload")
    launcher.stop()
    launcher.wait()
    assert svc.calls == ["start", "stop"]


def test_restart_with_mutate_resets_without_restarting(conf):
    launcher, svc = _launch(conf, "mutate")
    launcher.restart()
    launcher.stop()
    launcher.wait()
    assert svc.calls == ["start", "reset", "stop"]


def test_restart_with_reload_stops_resets_and_starts_again(conf):
    launcher, svc = _launch(conf, "reload")
    svc.started.clear()
    launcher.restart()
    assert svc.started.wait(TIMEOUT)
    launcher.stop()
    launcher.wait()
    assert svc.calls == ["start", "stop", "reset", "start", "stop"]


def test_launcher_runs_one_instance_only(conf):
    with pytest.raises(ValueError, match="workers must be 1, not 2"):
        service.Launcher(conf).launch_service(Recorder(), workers=2)


def test_service_pickles_without_its_thread_group():
    svc = pickle.loads(pickle.dumps(service.Service(threads=7)))
    assert svc.tg.thread_pool_size == 7


def _break_config_files(conf):
    for path in conf.config_file:
        with open(path, "w") as f:
            f.write("[DEFAULT\n")


def _refusals(caplog):
    return [r for r in caplog.records if "refused" in r.getMessage()]


@pytest.mark.parametrize("restart_method", ["reload", "mutate"])
def test_restart_with_a_config_that_no_longer_parses_keeps_the_service(
    conf, caplog, restart_method
):
    launcher, svc = _launch(conf, restart_method)
    _break_config_files(conf)
    launcher.restart()
    launcher.stop()
    launcher.wait()
    assert svc.calls == ["start", "stop"]  # neither reset nor restarted
    (refused,) = _refusals(caplog)
    assert "Failed to parse" in refused.getMessage()
    assert refused.levelname == "ERROR" and refused.exc_info is None
    # oslo.config's own warning is held back: one line.
    assert not [r for r in caplog.records if r.name.startswith("oslo_config")]
    assert conf.graceful_shutdown_timeout == 5


@pytest.mark.parametrize("restart_method", ["reload", "mutate"])
def test_no_fork_restart_with_a_config_that_no_longer_parses_keeps_the_service(
    conf, caplog, restart_method
):
    launcher = service.ProcessLauncher(conf, no_fork=True, restart_method=restart_method)
    svc = Recorder()
    try:
        launcher.launch_service(svc)
        _break_config_files(conf)
        launcher.restart()
    finally:
        launcher.stop()
        assert launcher.wait() == 0
    assert svc.calls == ["start", "stop"]
    (refused,) = _refusals(caplog)
    assert "Failed to parse" in refused.getMessage() and refused.exc_info is None
    assert not [r for r in caplog.records if r.name.startswith("oslo_config")]
