"""Bad input to the launchers is a clear error at the call, on every launcher."""

from oslo_config import cfg
import pytest

from oslo_threading_backend import service


class Svc(service.Service):
    pass


class Unpicklable(service.Service):
    def __init__(self):
        super().__init__()
        self.callback = lambda: None  # lambdas cannot be pickled


@pytest.fixture
def conf():
    c = cfg.ConfigOpts()
    c([], project="test")
    return c


@pytest.mark.parametrize("workers", ["2", 1.5, True])
def test_workers_of_the_wrong_type_is_a_type_error(conf, workers):
    with pytest.raises(TypeError, match=r"workers must be an int >= 1"):
        service.launch(conf, Svc(), workers=workers)
    with pytest.raises(TypeError, match=r"workers must be an int >= 1"):
        service.ProcessLauncher(conf).launch_service(Svc(), workers=workers)
    with pytest.raises(TypeError, match=r"workers must be an int >= 1"):
        service.ServiceLauncher(conf).launch_service(Svc(), workers=workers)


@pytest.mark.parametrize("workers", [0, -3])
def test_workers_below_one_is_a_value_error(conf, workers):
    with pytest.raises(ValueError, match=rf"workers must be an int >= 1, not {workers}"):
        service.launch(conf, Svc(), workers=workers)
    with pytest.raises(ValueError, match=r"workers must be an int >= 1"):
        service.ProcessLauncher(conf).launch_service(Svc(), workers=workers)


def test_restart_method_is_checked_by_every_launcher(conf):
    message = r"restart_method must be one of 'reload', 'mutate', not 'bogus'"
    for make in (
        lambda: service.launch(conf, Svc(), restart_method="bogus"),
        lambda: service.launch(conf, Svc(), workers=2, restart_method="bogus"),
        lambda: service.launch(conf, Svc(), no_fork=True, restart_method="bogus"),
        lambda: service.ProcessLauncher(conf, restart_method="bogus"),
        lambda: service.ProcessLauncher(conf, restart_method="bogus", no_fork=True),
        lambda: service.ServiceLauncher(conf, restart_method="bogus"),
        lambda: service.Launcher(conf, restart_method="bogus"),
        lambda: service.Services(restart_method="bogus"),
    ):
        with pytest.raises(ValueError, match=message):
            make()


def test_start_method_is_checked_by_every_forking_launcher(conf):
    message = r"start_method must be None \(fork\), 'fork' or 'spawn', not 'forkserver'"
    for make in (
        lambda: service.launch(conf, Svc(), start_method="forkserver"),
        lambda: service.launch(conf, Svc(), workers=3, start_method="forkserver"),
        lambda: service.ProcessLauncher(conf, start_method="forkserver"),
        lambda: service.ServiceLauncher(conf, start_method="forkserver"),
    ):
        with pytest.raises(ValueError, match=message):
            make()


def test_service_that_is_not_a_service_base_is_a_type_error(conf):
    message = (
        r"service must be an instance of oslo_threading_backend.service.ServiceBase.*, not "
        r"builtins.object .*: it lacks start, stop, wait, reset"
    )
    with pytest.raises(TypeError, match=message):
        service.launch(conf, object())
    with pytest.raises(TypeError, match=message):
        service.ProcessLauncher(conf).launch_service(object())
    with pytest.raises(TypeError, match=message):
        service.ServiceLauncher(conf).launch_service(object())
    with pytest.raises(TypeError, match=message):
        service.Launcher(conf).launch_service(object())
    with pytest.raises(TypeError, match=message):
        service.ServiceWrapper(0, object())


def test_spawn_with_an_unpicklable_service_is_a_clear_error(conf):
    with pytest.raises(
        TypeError, match=r"start_method='spawn' pickles the service .* use start_method='fork'"
    ):
        service.ProcessLauncher(conf, start_method="spawn").launch_service(Unpicklable(), 2)


def test_wait_interval_is_checked(conf):
    with pytest.raises(TypeError, match="wait_interval must be a number"):
        service.ProcessLauncher(conf, wait_interval="fast")
    with pytest.raises(ValueError, match="wait_interval must be a number of seconds >= 0"):
        service.ProcessLauncher(conf, wait_interval=-1)


def test_no_fork_must_be_a_bool(conf):
    with pytest.raises(TypeError, match="no_fork must be True or False"):
        service.ProcessLauncher(conf, no_fork="yes")


def test_launch_picks_the_launcher_by_workers_and_no_fork(conf):
    assert type(service.launch(conf, Svc())) is service.ServiceLauncher
    assert type(service.launch(conf, Svc(), workers=None)) is service.ServiceLauncher
    assert type(service.launch(conf, Svc(), workers=3)) is service.ProcessLauncher
    launcher = service.launch(conf, Svc(), no_fork=True)
    assert type(launcher) is service.ProcessLauncher and launcher.no_fork
    launcher.stop()
    assert launcher.wait() == 0


def test_launch_registers_the_options_with_their_defaults(conf):
    service.launch(conf, Svc(), workers=2)
    assert conf.graceful_shutdown_timeout == 60
    assert conf.log_options is True
    names = {opt.name for _group, opts in service.list_opts() for opt in opts}
    assert names == {"graceful_shutdown_timeout", "log_options"}


def test_stop_before_wait_makes_wait_return_without_forking(conf):
    launcher = service.launch(conf, Svc(), workers=2)
    launcher.stop()
    assert launcher.wait() == 0


@pytest.mark.parametrize("bad_conf", [None, {}, "conf"])
def test_conf_that_is_not_a_config_opts_is_a_type_error(bad_conf):
    from oslo_threading_backend import periodic_task

    for make in (
        lambda: service.launch(bad_conf, Svc()),
        lambda: service.ProcessLauncher(bad_conf),
        lambda: service.ServiceLauncher(bad_conf),
        lambda: service.Launcher(bad_conf),
        lambda: periodic_task.PeriodicTasks(bad_conf),
    ):
        with pytest.raises(TypeError, match="conf must be an oslo_config.cfg.ConfigOpts"):
            make()


def test_service_launcher_keeps_oslo_service_argument_name(conf):
    launcher = service.ServiceLauncher(conf)
    launcher.launch_service(service_instance=Svc(), workers=1)
    launcher.stop()
    assert launcher.wait() == 0


def test_no_fork_launcher_has_oslo_service_attributes_and_reinstalls_handlers(conf):
    import signal

    launcher = service.ProcessLauncher(conf, no_fork=True)
    try:
        assert isinstance(launcher.signal_handler, service.SignalHandler)
        svc = Svc()
        launcher.launch_service(svc)
        assert launcher.service is svc
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        launcher.add_signal_handlers()
        assert signal.getsignal(signal.SIGTERM) == launcher.signal_handler._handle_signal_cb
    finally:
        launcher.stop()
        assert launcher.wait() == 0
    # wait() gave the signals back.
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
