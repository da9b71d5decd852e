"""Every registered option is read before the first fork; a bad value is one clear line."""

from __future__ import annotations

from oslo_config import cfg
import pytest

from oslo_threading_backend import service
from oslo_threading_backend._openstack import config_check


def _conf(tmp_path, text, args=()):
    path = tmp_path / "app.conf"
    path.write_text(text)
    conf = cfg.ConfigOpts()
    conf.register_opts([cfg.IntOpt("cells", min=1, max=10), cfg.BoolOpt("audit")], group="demo")
    conf.register_opts([cfg.StrOpt("flavor", choices=["small", "large"])])
    conf([*args, "--config-file", str(path)])
    return conf, path


def test_a_value_nobody_read_yet_is_found(tmp_path):
    conf, path = _conf(tmp_path, "[demo]\ncells = many\n")
    with pytest.raises(config_check.InvalidConfigValue) as info:
        config_check.check_values(conf)
    error = info.value
    assert isinstance(error, cfg.ConfigFileValueError)  # what oslo.config raises for it
    assert str(error) == (
        f"{path}: [demo] cells = 'many' is not valid: invalid literal for int() with "
        "base 10: 'many'; allowed: an integer >= 1 and <= 10"
    )
    assert (error.where, error.group, error.option, error.value) == (
        str(path),
        "demo",
        "cells",
        "many",
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[DEFAULT]\nflavor = huge\n", "[DEFAULT] flavor = 'huge' is not valid: "),
        ("[demo]\naudit = maybe\n", "[demo] audit = 'maybe' is not valid: "),
        ("[demo]\ncells = 0\n", "[demo] cells = '0' is not valid: "),
    ],
)
def test_each_kind_of_bad_value_is_one_line_with_what_is_allowed(tmp_path, text, expected):
    conf, path = _conf(tmp_path, text)
    with pytest.raises(config_check.InvalidConfigValue) as info:
        config_check.check_values(conf)
    line = str(info.value)
    assert line.startswith(f"{path}: {expected}"), line
    assert "; allowed: " in line and "\n" not in line and "LocationInfo" not in line


def test_allowed_values_are_described_from_the_type():
    assert config_check._allowed(cfg.StrOpt("x", choices=["a", "b"])) == "one of 'a', 'b'"
    assert config_check._allowed(cfg.BoolOpt("x")).startswith("true or false")
    assert config_check._allowed(cfg.IntOpt("x", min=1)) == "an integer >= 1"
    assert config_check._allowed(cfg.FloatOpt("x")) == "a number"
    assert config_check._allowed(cfg.PortOpt("x")) == "an integer >= 0 and <= 65535"


def test_a_value_from_the_environment_names_the_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("OS_DEMO__CELLS", "many")
    conf, _path = _conf(tmp_path, "")
    with pytest.raises(
        config_check.InvalidConfigValue,
        match=r"^environment variable OS_DEMO__CELLS: \[demo\] cells = 'many' is not valid",
    ):
        config_check.check_values(conf)


def test_good_values_pass(tmp_path):
    conf, _path = _conf(tmp_path, "[demo]\ncells = 3\naudit = true\n")
    config_check.check_values(conf)


def test_launch_raises_for_a_bad_value_of_the_launchers_own_options(tmp_path):
    # [DEFAULT] default_thread_pool_size = -4 used to be only logged ("Could not
    # log the config's values"); the workers started and failed at first use.
    conf, path = _conf(tmp_path, "[DEFAULT]\ndefault_thread_pool_size = -4\n")

    class Svc(service.Service):
        pass

    for make in (
        lambda: service.launch(conf, Svc()),
        lambda: service.launch(conf, Svc(), workers=2),
        lambda: service.launch(conf, Svc(), no_fork=True),
    ):
        with pytest.raises(service.InvalidConfigValue) as info:
            make()
        assert str(info.value).startswith(
            f"{path}: [DEFAULT] default_thread_pool_size = '-4' is not valid: "
        )


def test_an_option_registered_after_the_launcher_is_read_before_it_runs(tmp_path):
    conf, path = _conf(tmp_path, "[late]\nlimit = lots\n")
    launcher = service.ProcessLauncher(conf, no_fork=True)
    conf.register_opt(cfg.IntOpt("limit"), group="late")
    launcher.launch_service(service.Service())
    with pytest.raises(service.InvalidConfigValue, match=r"\[late\] limit = 'lots'"):
        launcher.wait()
