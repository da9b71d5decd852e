"""Our options on one ConfigOpts with oslo.service's and with the application's own."""

from __future__ import annotations

from oslo_config import cfg
import pytest

from oslo_threading_backend import backend
from oslo_threading_backend import executors
from oslo_threading_backend import opts
from oslo_threading_backend import service
from oslo_threading_backend._openstack import service_opts as _service_opts
from tests.installed import installed as _installed

needs_oslo_service = pytest.mark.skipif(
    not _installed("oslo.service"),
    reason="oslo.service is not installed (tox -e openstack has it)",
)

# oslo.service 4.8.0's oslo_service/_options.py service_opts, copied.
OSLO_SERVICE_4_8_SERVICE_OPTS = [
    cfg.BoolOpt(
        "log_options",
        default=True,
        help="Enables or disables logging values of all registered "
        "options when starting a service (at DEBUG level).",
    ),
    cfg.IntOpt(
        "graceful_shutdown_timeout",
        default=60,
        help="Specify a timeout after which a gracefully shutdown "
        "server will exit. Zero value means endless wait.",
    ),
]


@pytest.fixture(autouse=True)
def _restore_defaults():
    # set_service_opts_defaults changes the (process-wide) Opt objects.
    yield
    cfg.set_defaults(_service_opts.service_opts, log_options=True, graceful_shutdown_timeout=60)
    if _installed("oslo.service"):
        from oslo_service import _options

        cfg.set_defaults(_options.service_opts, log_options=True, graceful_shutdown_timeout=60)


def test_our_options_equal_oslo_service_4_8s():
    assert sorted(_service_opts.service_opts, key=lambda o: o.dest) == sorted(
        OSLO_SERVICE_4_8_SERVICE_OPTS, key=lambda o: o.dest
    )
    conf = cfg.ConfigOpts()
    conf.register_opts(OSLO_SERVICE_4_8_SERVICE_OPTS)
    opts.register_service_opts(conf)  # equal options: no DuplicateOptError
    assert conf.graceful_shutdown_timeout == 60


@needs_oslo_service
def test_with_oslo_service_installed_the_options_are_its_own_objects():
    from oslo_service import _options

    assert _service_opts.service_opts is _options.service_opts


@needs_oslo_service
@pytest.mark.parametrize("ours_first", [True, False])
@pytest.mark.parametrize("how", ["register", "set_defaults"])
def test_both_packages_register_on_one_conf_in_either_order(ours_first, how):
    from oslo_service import opts as oslo_opts

    def ours(conf):
        if how == "register":
            opts.register_service_opts(conf)
        else:
            opts.set_service_opts_defaults(conf)

    def theirs(conf):
        if how == "register":
            oslo_opts.register_service_opts(conf)
        else:
            oslo_opts.set_service_opts_defaults(conf)

    conf = cfg.ConfigOpts()
    for register in (ours, theirs) if ours_first else (theirs, ours):
        register(conf)
    service.Launcher(conf)  # the launcher registers them once more
    conf([])
    assert conf.graceful_shutdown_timeout == 60
    assert conf.log_options is True


@needs_oslo_service
@pytest.mark.parametrize("ours_first", [True, False])
def test_nova_sets_oslo_service_defaults_and_our_launcher_uses_them(ours_first):
    # nova/conf/base.py: oslo_service.opts.set_service_opts_defaults(CONF, ...=180)
    from oslo_service import opts as oslo_opts

    conf = cfg.ConfigOpts()
    if ours_first:
        opts.register_service_opts(conf)
    oslo_opts.set_service_opts_defaults(conf, graceful_shutdown_timeout=180)
    launcher = service.ProcessLauncher(conf, no_fork=True)
    conf([])
    assert conf.graceful_shutdown_timeout == 180
    assert launcher._runner._shutdown_timeout == 180
    launcher.stop()
    assert launcher.wait() == 0


def test_our_set_service_opts_defaults_changes_the_default():
    conf = cfg.ConfigOpts()
    opts.set_service_opts_defaults(conf, graceful_shutdown_timeout=180, log_options=False)
    conf([])
    assert conf.graceful_shutdown_timeout == 180
    assert conf.log_options is False


def test_set_service_opts_defaults_refuses_an_unknown_option():
    with pytest.raises(TypeError, match="unknown option.*graceful_timeout.*graceful_shutdown"):
        opts.set_service_opts_defaults(cfg.ConfigOpts(), graceful_timeout=5)


def test_importing_opts_selects_no_backend():
    # opts is imported where an application defines its options, maybe before
    # it chose its backend: settling one there would be too early.
    import subprocess
    import sys

    code = (
        "from oslo_threading_backend import opts, backend\n"
        "from oslo_config import cfg\n"
        "opts.set_service_opts_defaults(cfg.ConfigOpts(), graceful_shutdown_timeout=5)\n"
        "print(backend.get_backend_type())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.splitlines() == ["None"]


def test_options_the_application_defined_under_our_names_are_used_as_defined():
    # nova defines these itself (different help, defaults, choices).
    conf = cfg.ConfigOpts()
    conf.register_opts(
        [
            cfg.IntOpt("default_thread_pool_size", default=7, help="nova's"),
            cfg.IntOpt("thread_pool_statistic_period", default=-1, help="nova's"),
            cfg.IntOpt("cell_worker_thread_pool_size", default=5, help="nova's"),
            cfg.StrOpt("concurrency_backend", default="threading", help="nova's"),
            cfg.IntOpt("graceful_shutdown_timeout", default=33, help="the app's"),
        ]
    )
    service.Launcher(conf)  # registers ours: no DuplicateOptError
    executors.set_conf(conf)
    backend.register_opts(conf)
    conf([])
    assert conf.default_thread_pool_size == 7
    assert conf.concurrency_backend == "threading"
    assert conf.graceful_shutdown_timeout == 33
    # Our other options are registered next to them.
    assert conf.scatter_gather_thread_pool_size == 5
    assert conf.thread_dump_signal == "SIGUSR2"
    assert executors._pool_size(conf, executors.DEFAULT) == 7


@pytest.mark.parametrize("value", [-1, -60])
def test_a_negative_shutdown_timeout_is_refused_naming_the_option(value):
    # oslo.service's option has no minimum: the launcher checks it.
    conf = cfg.ConfigOpts()
    opts.register_service_opts(conf)
    conf([])
    conf.set_override("graceful_shutdown_timeout", value)
    with pytest.raises(ValueError, match=r"graceful_shutdown_timeout must be .* >= 0"):
        service.ProcessLauncher(conf, no_fork=True)


def test_run_external_periodic_tasks_equals_oslo_service_4_8s():
    from oslo_threading_backend import periodic_task

    theirs = cfg.BoolOpt(
        "run_external_periodic_tasks",
        default=True,
        help="Some periodic tasks can be run in a separate process. Should we run them here?",
    )
    assert periodic_task.periodic_opts == [theirs]
    conf = cfg.ConfigOpts()
    conf.register_opts([theirs])
    periodic_task.PeriodicTasks(conf)  # registers ours: equal, no DuplicateOptError
    conf([])
    assert conf.run_external_periodic_tasks is True


def test_set_service_opts_defaults_reaches_an_option_the_application_owns():
    conf = cfg.ConfigOpts()
    conf.register_opt(cfg.IntOpt("graceful_shutdown_timeout", default=5, help="the app's own"))
    opts.set_service_opts_defaults(conf, graceful_shutdown_timeout=99)
    conf([])
    assert conf.graceful_shutdown_timeout == 99
