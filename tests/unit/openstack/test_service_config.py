"""_service_config.reload_config: what a SIGHUP does to a ConfigOpts."""

from oslo_config import cfg

from oslo_threading_backend._openstack import service_config as _service_config


def _conf(tmp_path, value):
    path = tmp_path / "app.conf"
    path.write_text(f"[app]\nvalue = {value}\n")
    conf = cfg.ConfigOpts()
    conf.register_opts([cfg.StrOpt("value", mutable=True)], group="app")
    conf(["--config-file", str(path)])
    return conf, path


def test_mutate_applies_the_new_value(tmp_path):
    conf, path = _conf(tmp_path, "before")
    assert conf.app.value == "before"
    path.write_text("[app]\nvalue = after\n")
    assert _service_config.reload_config(conf, "mutate") is None
    assert conf.app.value == "after"


def test_a_read_during_mutate_does_not_keep_the_old_value_cached(tmp_path):
    # oslo.config's mutate_config_files() empties its cache, then reads the files:
    # a thread reading the option in between (an RPC call during a SIGHUP) cached
    # the old value again, and the worker served it until the next SIGHUP. The read
    # is made here, deterministically, where the other thread's would fall.
    conf, path = _conf(tmp_path, "before")
    assert conf.app.value == "before"
    path.write_text("[app]\nvalue = after\n")
    reload_files = conf._reload_config_files

    def read_meanwhile():
        assert conf.app.value == "before"  # the concurrent reader
        return reload_files()

    conf._reload_config_files = read_meanwhile
    assert _service_config.reload_config(conf, "mutate") is None
    assert conf.app.value == "after"


def test_reload_applies_the_new_value(tmp_path):
    conf, path = _conf(tmp_path, "before")
    assert conf.app.value == "before"
    path.write_text("[app]\nvalue = after\n")
    assert _service_config.reload_config(conf, "reload") is None
    assert conf.app.value == "after"
