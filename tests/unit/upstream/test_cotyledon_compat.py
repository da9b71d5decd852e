"""The launcher refuses, at start, a cotyledon without the internals the master overrides."""

import multiprocessing
import pathlib
import re

import cotyledon
import pytest

from oslo_threading_backend._processes import master as _master
from oslo_threading_backend._upstream import cotyledon_compat as _cotyledon_compat

REPO_ROOT = pathlib.Path(__file__).resolve().parents[3]


def test_the_installed_cotyledon_has_everything_the_master_relies_on():
    _cotyledon_compat.check_manager_class()


@pytest.mark.parametrize("name", _cotyledon_compat.METHODS)
def test_a_missing_method_fails_loudly_naming_it_and_the_version(monkeypatch, name):
    for cls in cotyledon.ServiceManager.__mro__:
        if name in vars(cls):
            monkeypatch.delattr(cls, name)
    with pytest.raises(_cotyledon_compat.IncompatibleCotyledonError) as caught:
        _cotyledon_compat.check_manager_class()
    message = str(caught.value)
    assert f"ServiceManager's private method {name}," in message
    assert re.search(r"cotyledon \d+\.\d+\.\d+ is not supported", message)
    assert "install cotyledon>=2.2.0,<2.3" in message


def test_the_master_fails_before_acting_on_the_process(monkeypatch):
    monkeypatch.delattr(cotyledon.ServiceManager, "_slowdown_respawn_if_needed")
    monkeypatch.setattr(
        cotyledon.ServiceManager,
        "__init__",
        lambda *a, **k: pytest.fail("cotyledon's constructor must not run"),
    )
    with pytest.raises(_cotyledon_compat.IncompatibleCotyledonError, match="_slowdown_respawn"):
        _master.Master(
            graceful_shutdown_timeout=1,
            mp_context=multiprocessing.get_context("fork"),
            wait_interval=0.01,
        )


def test_a_missing_attribute_fails_loudly():
    class Manager:
        pass

    manager = Manager()
    for name in _cotyledon_compat.ATTRIBUTES:
        setattr(manager, name, None)
    _cotyledon_compat.check_manager_instance(manager)
    del manager._forktimes
    with pytest.raises(
        _cotyledon_compat.IncompatibleCotyledonError, match="private attribute _forktimes,"
    ):
        _cotyledon_compat.check_manager_instance(manager)


def test_requirements_bound_cotyledon_to_the_tested_minor_release():
    lines = (REPO_ROOT / "requirements.txt").read_text().splitlines()
    (line,) = [line for line in lines if line.startswith("cotyledon")]
    assert line.split("#")[0].strip() == "cotyledon" + _cotyledon_compat.TESTED


def test_the_master_overrides_only_names_the_check_covers():
    ours = {
        name
        for name, value in vars(_master.Master).items()
        if callable(value) and hasattr(cotyledon.ServiceManager, name) and name.startswith("_")
    }
    assert ours - {"__init__"} <= set(_cotyledon_compat.METHODS)
