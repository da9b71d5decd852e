"""A service is a ServiceBase (ours or oslo.service's); wait() follows start()."""

from __future__ import annotations

import threading
from unittest import mock

from oslo_config import cfg
import pytest

from oslo_threading_backend import service
from oslo_threading_backend._processes import service_wait as _service_wait
from tests.installed import installed as _installed

TIMEOUT = 10


@pytest.fixture
def conf():
    c = cfg.ConfigOpts()
    c([])
    return c


class Duck(service.ServiceBase):
    """start/stop/wait/reset, recorded."""

    def __init__(self, wait_blocks: bool = True) -> None:
        self.calls: list[str] = []
        self.wait_blocks = wait_blocks
        self.stopped = threading.Event()
        self.waiting = threading.Event()

    def start(self):
        self.calls.append("start")

    def stop(self):
        self.calls.append("stop")
        self.stopped.set()

    def wait(self):
        self.calls.append("wait")
        self.waiting.set()
        if self.wait_blocks:
            self.stopped.wait(TIMEOUT)
        self.calls.append("wait-returned")

    def reset(self):
        self.calls.append("reset")
        self.stopped.clear()  # a restart's wait() blocks until the next stop


class HalfService:
    def start(self):
        pass

    def stop(self):
        pass


class FourMethods:
    """The four methods, derived from no ServiceBase: not a service (as in oslo.service)."""

    def start(self):
        pass

    def stop(self):
        pass

    def wait(self):
        pass

    def reset(self):
        pass


def test_only_a_service_base_is_a_service_base():
    assert isinstance(Duck(), service.ServiceBase)
    assert not isinstance(FourMethods(), service.ServiceBase)
    assert not isinstance(HalfService(), service.ServiceBase)
    assert not isinstance(object(), service.ServiceBase)


def test_launch_wrong_service_base_class(conf):
    # oslo.service's own test of the same name: a Mock has every method.
    with pytest.raises(TypeError, match=r"service must be an instance of .*ServiceBase"):
        service.launch(conf, mock.Mock())


def test_methods_without_the_base_class_are_refused_saying_so(conf):
    with pytest.raises(TypeError, match=r"FourMethods .* derives from neither"):
        service.launch(conf, FourMethods())
    with pytest.raises(TypeError, match=r"HalfService .*: it lacks wait, reset"):
        service.launch(conf, HalfService())
    with pytest.raises(TypeError, match=r"must be an instance of"):
        service.ProcessLauncher(conf, no_fork=True).launch_service(FourMethods())
    with pytest.raises(TypeError, match=r"must be an instance of"):
        service.Launcher(conf).launch_service(FourMethods())


def test_a_registered_class_is_a_service(conf):
    class Registered(FourMethods):
        pass

    service.ServiceBase.register(Registered)
    assert isinstance(Registered(), service.ServiceBase)
    launcher = service.launch(conf, Registered(), no_fork=True)
    launcher.stop()
    assert launcher.wait() == 0


def test_a_class_instead_of_an_instance_is_refused(conf):
    with pytest.raises(TypeError, match=r"service must be a service instance, not the class Duck"):
        service.ProcessLauncher(conf).launch_service(Duck)


def test_non_callable_contract_attribute_is_refused(conf):
    svc = Duck()
    svc.reset = "not callable"
    with pytest.raises(TypeError, match=r"has no callable reset"):
        service.ServiceWrapper(0, svc)


NEEDS_OSLO_SERVICE = pytest.mark.skipif(
    not _installed("oslo.service"),
    reason="oslo.service is not installed (tox -e openstack has it)",
)


@NEEDS_OSLO_SERVICE
def test_four_methods_do_not_make_an_oslo_service_service_base():
    from oslo_service.backend import base as oslo_base

    assert not isinstance(FourMethods(), oslo_base.ServiceBase)
    assert not isinstance(mock.Mock(), oslo_base.ServiceBase)
    assert isinstance(Duck(), oslo_base.ServiceBase)


@NEEDS_OSLO_SERVICE
def test_oslo_service_servicebase_both_ways(conf):
    from oslo_service.backend import base as oslo_base

    class Theirs(oslo_base.ServiceBase):
        def start(self):
            pass

        def stop(self):
            pass

        def wait(self):
            pass

        def reset(self):
            pass

    assert isinstance(Theirs(), service.ServiceBase)
    assert isinstance(service.Service(), oslo_base.ServiceBase)
    assert issubclass(service.ServiceBase, oslo_base.ServiceBase)
    # Both ways, and no recursion between the two hooks.
    assert issubclass(oslo_base.ServiceBase, service.ServiceBase)
    launcher = service.launch(conf, Theirs(), no_fork=True)
    launcher.stop()
    assert launcher.wait() == 0


def test_no_fork_calls_wait_while_running_and_stop_awaits_it(conf):
    svc = Duck()
    launcher = service.ProcessLauncher(conf, no_fork=True)
    launcher.launch_service(svc)
    assert svc.waiting.wait(TIMEOUT)  # wait() runs before any stop
    assert svc.calls == ["start", "wait"]
    launcher.stop()
    assert launcher.wait() == 0
    # One wait() per start(): the stop awaited the running one.
    assert svc.calls == ["start", "wait", "stop", "wait-returned"]


def test_a_wait_that_returned_early_is_called_again_after_stop(conf):
    # A wait() that returns at once (nothing to wait for yet) does not see the
    # stop through: a stop is always followed by a wait().
    svc = Duck(wait_blocks=False)
    launcher = service.ProcessLauncher(conf, no_fork=True)
    launcher.launch_service(svc)
    assert svc.waiting.wait(TIMEOUT)
    launcher.stop()
    assert launcher.wait() == 0
    assert svc.calls == ["start", "wait", "wait-returned", "stop", "wait", "wait-returned"]


def test_no_fork_reload_restart_waits_for_the_running_wait_then_starts_again(conf):
    svc = Duck()
    launcher = service.ProcessLauncher(conf, no_fork=True, restart_method="reload")
    launcher.launch_service(svc)
    assert svc.waiting.wait(TIMEOUT)
    launcher._runner.restart()
    launcher.stop()
    assert launcher.wait() == 0
    assert svc.calls[:6] == ["start", "wait", "stop", "wait-returned", "reset", "start"]
    assert svc.calls.count("start") == svc.calls.count("wait") == 2


def test_service_wait_begin_stop_reports_whether_it_still_runs():
    svc = Duck()
    wait = _service_wait.ServiceWait(svc, "test")
    thread = threading.Thread(target=wait.call, daemon=True)
    thread.start()
    assert svc.waiting.wait(TIMEOUT)
    assert wait.begin_stop() is True
    svc.stop()
    assert wait.returned(TIMEOUT)
    thread.join(TIMEOUT)
    done = _service_wait.ServiceWait(Duck(wait_blocks=False), "test")
    assert done.call() is None
    assert done.begin_stop() is False  # already returned: the stopper calls wait()


def test_an_exception_from_wait_before_stop_is_returned():
    class Failing(Duck):
        def wait(self):
            raise RuntimeError("broken")

    assert isinstance(_service_wait.ServiceWait(Failing(), "test").call(), RuntimeError)


def test_no_fork_a_wait_that_raises_before_any_stop_ends_the_run_with_status_1(conf):
    # As a forked worker exits 1 (and oslo.service's launcher.wait() raises): the
    # exception used to be logged only, and the process went on serving.
    class Failing(Duck):
        def wait(self):
            self.calls.append("wait")
            if self.calls.count("wait") == 1:  # the one running after start()
                raise RuntimeError("the service's loop died")

    svc = Failing()
    launcher = service.ProcessLauncher(conf, no_fork=True)
    launcher.launch_service(svc)
    assert launcher.wait() == 1
    # The stop that follows calls wait() again, since the first one returned.
    assert svc.calls == ["start", "wait", "stop", "wait"]
