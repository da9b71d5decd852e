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
