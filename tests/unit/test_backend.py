"""Backend registry: selection, precedence, entry points and bad input."""

from __future__ import annotations

import configparser
import importlib.metadata
import logging
import os
import pathlib
import subprocess
import sys
import textwrap
import types

from oslo_config import cfg
import pytest

from oslo_threading_backend import backend
from oslo_threading_backend.backend import BackendType

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
ENV_VAR = "OS_TEST_DISABLE_EVENTLET_PATCHING"

# oslo.service 4.8.0 backend/_threading/__init__.py, ThreadingBackend.
OSLO_SERVICE_THREADING_COMPONENTS = {
    "ServiceBase",
    "ServiceLauncher",
    "Launcher",
    "ProcessLauncher",
    "Service",
    "Services",
    "ServiceWrapper",
    "SignalExit",
    "SignalHandler",
    "Singleton",
    "LoopingCallBase",
    "LoopingCallDone",
    "LoopingCallTimeOut",
    "FixedIntervalLoopingCall",
    "FixedIntervalWithTimeoutLoopingCall",
    "DynamicLoopingCall",
    "BackOffLoopingCall",
    "RetryDecorator",
    "ThreadGroup",
    "Thread",
    "_is_daemon",
    "_is_sighup_and_daemon",
    "launch",
}


class FakeBackend(backend.BaseBackend):
    calls = 0

    def get_service_components(self):
        type(self).calls += 1
        return {"ServiceLauncher": "fake-launcher", "Missing": None}


class FakeEventletBackend(FakeBackend):
    pass


class NotADictBackend(backend.BaseBackend):
    def get_service_components(self):
        return ["ServiceLauncher"]


@pytest.fixture(autouse=True)
def _clean_backend(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    FakeBackend.calls = 0
    backend._reset_backend()
    yield
    backend._reset_backend()


@pytest.fixture
def entry_points(monkeypatch):
    """Replace entry point discovery with ``{name: class}`` from this module."""
    module = types.ModuleType("_fake_backends_for_tests")
    module.FakeBackend = FakeBackend
    module.FakeEventletBackend = FakeEventletBackend
    module.NotADictBackend = NotADictBackend
    monkeypatch.setitem(sys.modules, module.__name__, module)

    def install(**mapping: type) -> None:
        eps = importlib.metadata.EntryPoints(
            importlib.metadata.EntryPoint(
                name=name,
                value=f"{module.__name__}:{cls.__name__}",
                group=backend.ENTRY_POINT_GROUP,
            )
            for name, cls in mapping.items()
        )
        monkeypatch.setattr(backend, "_entry_points", lambda: eps)

    return install


@pytest.fixture
def conf():
    return cfg.ConfigOpts()


# init_backend / get_backend / get_backend_type


def test_nothing_selected_initially():
    assert backend.get_backend_type() is None


def test_default_backend_is_threading():
    from oslo_threading_backend._openstack.threading_backend import ThreadingBackend

    assert isinstance(backend.get_backend(), ThreadingBackend)
    assert backend.get_backend_type() is BackendType.THREADING


@pytest.mark.parametrize("value", [BackendType.THREADING, "threading", " Threading "])
def test_init_backend_accepts_enum_or_name(value):
    backend.init_backend(value)
    assert backend.get_backend_type() is BackendType.THREADING


def test_init_backend_same_type_again_is_noop():
    backend.init_backend(BackendType.THREADING)
    first = backend.get_backend()
    backend.init_backend("threading")
    assert backend.get_backend() is first


def test_init_backend_different_type_raises(entry_points):
    entry_points(threading=FakeBackend, eventlet=FakeEventletBackend)
    backend.init_backend(BackendType.THREADING)
    with pytest.raises(backend.BackendAlreadySelected) as info:
        backend.init_backend(BackendType.EVENTLET)
    message = str(info.value)
    assert "'type_'" in message
    assert "'eventlet'" in message and "'threading' backend is already selected" in message
    assert backend.get_backend_type() is BackendType.THREADING


@pytest.mark.parametrize("value", ["bogus", "", "THREADS"])
def test_init_backend_unknown_name_is_value_error(value):
    with pytest.raises(ValueError) as info:
        backend.init_backend(value)
    message = str(info.value)
    assert "'type_'" in message
    assert "'eventlet', 'threading'" in message
    assert repr(value) in message
    assert backend.get_backend_type() is None


@pytest.mark.parametrize("value", [None, 1, b"threading", ["threading"]])
def test_init_backend_wrong_type_is_type_error(value):
    with pytest.raises(TypeError) as info:
        backend.init_backend(value)
    assert "'type_'" in str(info.value) and "BackendType" in str(info.value)
    assert backend.get_backend_type() is None


# Entry points


def test_entry_point_provides_the_backend(entry_points):
    entry_points(threading=FakeBackend)
    assert isinstance(backend.get_backend(), FakeBackend)


def test_setup_cfg_declares_the_threading_entry_point():
    parser = configparser.ConfigParser()
    parser.read(REPO_ROOT / "setup.cfg")
    declared = parser["entry_points"][backend.ENTRY_POINT_GROUP].split("\n")
    assert (
        "threading = oslo_threading_backend._openstack.threading_backend:ThreadingBackend"
        in declared
    )


def test_threading_is_built_in_without_entry_points(entry_points):
    entry_points()
    backend.init_backend("threading")
    assert type(backend.get_backend()).__name__ == "ThreadingBackend"


def test_broken_entry_point_is_backend_not_available(monkeypatch):
    bad = importlib.metadata.EntryPoint(
        name="threading", value="no_such_module_xyz:Backend", group=backend.ENTRY_POINT_GROUP
    )
    monkeypatch.setattr(backend, "_entry_points", lambda: importlib.metadata.EntryPoints([bad]))
    with pytest.raises(backend.BackendNotAvailable, match="no_such_module_xyz"):
        backend.init_backend("threading")
    assert backend.get_backend_type() is None


def test_eventlet_not_installed_names_what_to_install(entry_points, monkeypatch):
    entry_points()  # only the built-in adapter
    monkeypatch.delitem(
        sys.modules, "oslo_threading_backend._openstack.eventlet_backend", raising=False
    )
    monkeypatch.setitem(sys.modules, "eventlet", None)  # import eventlet -> ImportError
    with pytest.raises(backend.BackendNotAvailable) as info:
        backend.init_backend(BackendType.EVENTLET)
    assert isinstance(info.value, ImportError)
    assert "install oslo.service and eventlet" in str(info.value)
    assert "'eventlet' backend" in str(info.value)
    assert backend.get_backend_type() is None


# get_component


def test_components_are_resolved_on_first_use_only(entry_points):
    entry_points(threading=FakeBackend)
    backend.init_backend("threading")
    assert FakeBackend.calls == 0
    assert backend.get_component("ServiceLauncher") == "fake-launcher"
    assert backend.get_component("ServiceLauncher") == "fake-launcher"
    assert FakeBackend.calls == 1


def test_get_component_selects_default_backend(entry_points):
    entry_points(threading=FakeBackend)
    assert backend.get_component("ServiceLauncher") == "fake-launcher"
    assert backend.get_backend_type() is BackendType.THREADING


@pytest.mark.parametrize("name", ["NoSuchThing", "Missing"])
def test_unknown_component(entry_points, name):
    entry_points(threading=FakeBackend)
    with pytest.raises(KeyError) as info:  # oslo.service-style callers catch KeyError
        backend.get_component(name)
    assert isinstance(info.value, backend.BackendComponentNotAvailable)
    message = str(info.value)
    assert not message.startswith(("'", '"'))  # not KeyError's repr()
    assert f"{name!r}" in message
    assert "'threading' backend" in message
    assert "available: ServiceLauncher" in message


def test_get_component_wrong_type(entry_points):
    entry_points(threading=FakeBackend)
    with pytest.raises(TypeError, match="'name'"):
        backend.get_component(None)


def test_backend_returning_non_dict_is_type_error(entry_points):
    entry_points(threading=NotADictBackend)
    with pytest.raises(TypeError, match="must return a dict"):
        backend.get_component("ServiceLauncher")


def test_threading_backend_has_oslo_service_component_names():
    from oslo_threading_backend._openstack.threading_backend import ThreadingBackend

    components = ThreadingBackend().get_service_components()
    assert set(components) == OSLO_SERVICE_THREADING_COMPONENTS
    assert all(value is not None for value in components.values())


# register_backend_default_hook


def test_hook_decides_when_nothing_selected(entry_points):
    entry_points(threading=FakeBackend, eventlet=FakeEventletBackend)
    backend.register_backend_default_hook(lambda: BackendType.EVENTLET)
    assert isinstance(backend.get_backend(), FakeEventletBackend)
    assert backend.get_backend_type() is BackendType.EVENTLET


def test_hook_ignored_once_selected(entry_points):
    entry_points(threading=FakeBackend, eventlet=FakeEventletBackend)
    backend.init_backend("threading")
    backend.register_backend_default_hook(lambda: BackendType.EVENTLET)
    assert backend.get_backend_type() is BackendType.THREADING
    assert not isinstance(backend.get_backend(), FakeEventletBackend)


@pytest.mark.parametrize("result", [RuntimeError("boom"), "nonsense"])
def test_failing_hook_falls_back_to_default(entry_points, caplog, result):
    entry_points(threading=FakeBackend)

    def hook():
        if isinstance(result, Exception):
            raise result
        return result

    backend.register_backend_default_hook(hook)
    with caplog.at_level(logging.ERROR, logger=backend.__name__):
        backend.get_backend()
    assert backend.get_backend_type() is BackendType.THREADING
    assert "hook failed" in caplog.text


def test_hook_must_be_callable():
    with pytest.raises(TypeError, match="hook must be callable"):
        backend.register_backend_default_hook(BackendType.THREADING)


def test_reset_forgets_hook(entry_points):
    entry_points(threading=FakeBackend, eventlet=FakeEventletBackend)
    backend.register_backend_default_hook(lambda: BackendType.EVENTLET)
    backend._reset_backend()
    backend.get_backend()
    assert backend.get_backend_type() is BackendType.THREADING


# select_backend: precedence


@pytest.mark.parametrize("value", ["1", "true", "TRUE", "yes", " Yes "])
def test_env_var_true_means_threading(entry_points, monkeypatch, conf, value):
    entry_points(threading=FakeBackend, eventlet=FakeEventletBackend)
    monkeypatch.setenv(ENV_VAR, value)
    conf.register_opts(backend._opts)
    conf.set_override("concurrency_backend", "eventlet")
    chosen = backend.select_backend(ENV_VAR, conf, default=BackendType.EVENTLET)
    assert chosen is BackendType.THREADING
    assert backend.get_backend_type() is BackendType.THREADING


@pytest.mark.parametrize("value", ["0", "false", "no", "eventlet", "anything"])
def test_env_var_other_non_empty_means_eventlet(entry_points, monkeypatch, conf, value):
    entry_points(threading=FakeBackend, eventlet=FakeEventletBackend)
    monkeypatch.setenv(ENV_VAR, value)
    conf.register_opts(backend._opts)
    conf.set_override("concurrency_backend", "threading")
    assert backend.select_backend(ENV_VAR, conf) is BackendType.EVENTLET
    assert isinstance(backend.get_backend(), FakeEventletBackend)


@pytest.mark.parametrize("option", ["threading", "eventlet"])
@pytest.mark.parametrize("env_value", [None, "", "  "])
def test_config_option_when_env_var_unset_or_empty(
    entry_points, monkeypatch, conf, option, env_value
):
    entry_points(threading=FakeBackend, eventlet=FakeEventletBackend)
    if env_value is not None:
        monkeypatch.setenv(ENV_VAR, env_value)
    conf.register_opts(backend._opts)
    conf.set_override("concurrency_backend", option)
    other = "eventlet" if option == "threading" else "threading"
    assert backend.select_backend(ENV_VAR, conf, default=other) is BackendType(option)


def test_auto_falls_back_to_application_default(entry_points, conf):
    entry_points(threading=FakeBackend, eventlet=FakeEventletBackend)
    assert backend.select_backend(ENV_VAR, conf, default="eventlet") is BackendType.EVENTLET


def test_select_backend_registers_the_option_on_unparsed_conf(conf):
    backend.select_backend(conf=conf)
    assert conf.concurrency_backend == "auto"
    assert backend.get_backend_type() is BackendType.THREADING


def test_no_env_var_no_conf_uses_default(entry_points, monkeypatch):
    entry_points(threading=FakeBackend, eventlet=FakeEventletBackend)
    monkeypatch.setenv(ENV_VAR, "1")  # not consulted: not named
    assert backend.select_backend(default=BackendType.EVENTLET) is BackendType.EVENTLET


def test_select_backend_default_is_threading():
    assert backend.select_backend() is BackendType.THREADING


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        ("env", f"decided by environment variable {ENV_VAR}='yes'"),
        ("conf", "decided by [DEFAULT] concurrency_backend = threading"),
        ("default", f"decided by the application's default ({ENV_VAR} unset, "),
    ],
)
def test_selection_logs_choice_and_reason(monkeypatch, conf, caplog, setup, expected):
    conf.register_opts(backend._opts)
    if setup == "env":
        monkeypatch.setenv(ENV_VAR, "yes")
    elif setup == "conf":
        conf.set_override("concurrency_backend", "threading")
    with caplog.at_level(logging.INFO, logger=backend.__name__):
        backend.select_backend(ENV_VAR, conf)
    assert "Selecting concurrency backend 'threading'" in caplog.text
    assert expected in caplog.text


def test_select_backend_conflicting_with_selected_backend(entry_points, monkeypatch):
    entry_points(threading=FakeBackend, eventlet=FakeEventletBackend)
    backend.init_backend("threading")
    monkeypatch.setenv(ENV_VAR, "0")
    with pytest.raises(backend.BackendAlreadySelected):
        backend.select_backend(ENV_VAR)


# select_backend: bad input


@pytest.mark.parametrize(
    ("kwargs", "exc", "argument"),
    [
        ({"env_var": 5}, TypeError, "'env_var'"),
        ({"env_var": ""}, TypeError, "'env_var'"),
        ({"conf": {"concurrency_backend": "threading"}}, TypeError, "'conf'"),
        ({"default": "green"}, ValueError, "'default'"),
        ({"default": None}, TypeError, "'default'"),
    ],
)
def test_select_backend_bad_arguments(kwargs, exc, argument):
    with pytest.raises(exc, match=argument):
        backend.select_backend(**kwargs)
    assert backend.get_backend_type() is None


# Options


def test_list_opts_for_config_generator():
    ((group, opts),) = backend.list_opts()
    assert group == "DEFAULT"
    (opt,) = opts
    assert opt.name == "concurrency_backend"
    assert opt.default == "auto"
    assert [choice for choice, _ in opt.type.choices.items()] == [
        "auto",
        "threading",
        "eventlet",
    ]
    assert opt is not backend._opts[0]  # a copy, as oslo-config-generator expects


def test_option_rejects_unknown_value(conf):
    backend.register_opts(conf)
    with pytest.raises(ValueError):
        conf.set_override("concurrency_backend", "green")


# The eventlet adapter, in a fresh interpreter with fake oslo.service and eventlet.

FAKE_PACKAGES = {
    "eventlet/__init__.py": "",
    "oslo_service/__init__.py": "",
    "oslo_service/backend/__init__.py": "",
    "oslo_service/backend/_eventlet/__init__.py": textwrap.dedent(
        """
        class ServiceLauncher:
            pass

        class EventletBackend:
            @staticmethod
            def get_service_components():
                return {"ServiceLauncher": ServiceLauncher, "launch": print}
        """
    ),
}


def test_eventlet_adapter_maps_oslo_service_components(tmp_path):
    for relpath, text in FAKE_PACKAGES.items():
        (tmp_path / relpath).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relpath).write_text(text)
    code = textwrap.dedent(
        f"""
        from oslo_threading_backend import backend
        from oslo_threading_backend._openstack import eventlet_guard as _eventlet_guard
        print(backend.select_backend({ENV_VAR!r}).value)
        launcher = backend.get_component("ServiceLauncher")
        print(launcher.__module__, launcher.__name__, _eventlet_guard.is_poisoned())
        """
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), str(REPO_ROOT)]))
    env[ENV_VAR] = "false"
    proc = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "eventlet",
        "oslo_service.backend._eventlet ServiceLauncher False",
    ]
