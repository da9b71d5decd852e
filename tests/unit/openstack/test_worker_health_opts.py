import subprocess
import sys

from oslo_config import cfg
import pytest

from oslo_threading_backend import opts
from oslo_threading_backend._openstack import worker_health_opts


def _conf(*args):
    conf = cfg.ConfigOpts()
    worker_health_opts.register_opts(conf)
    conf(list(args), project="test")
    return conf


def test_the_default_and_zero_are_accepted():
    assert worker_health_opts.check_worker_hang_timeout(_conf()) == 60
    conf = _conf()
    conf.set_override("worker_hang_timeout", 0)
    assert worker_health_opts.check_worker_hang_timeout(conf) == 0


@pytest.mark.parametrize("value", ["-1", "5s", "soon", "1.5"])
def test_a_bad_value_is_one_line_naming_the_option(tmp_path, value):
    path = tmp_path / "bad.conf"
    path.write_text(f"[DEFAULT]\nworker_hang_timeout = {value}\n")
    conf = _conf("--config-file", str(path))
    with pytest.raises(ValueError, match=r"^\[DEFAULT\] worker_hang_timeout must be") as info:
        worker_health_opts.check_worker_hang_timeout(conf)
    assert "\n" not in str(info.value)


def test_the_option_is_listed_for_the_generator(tmp_path):
    listed = [opt.name for _group, group_opts in opts.list_opts() for opt in group_opts]
    assert listed.count("worker_hang_timeout") == 1
    out = tmp_path / "sample.conf"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "oslo_config.generator",
            "--namespace",
            "oslo_threading_backend",
            "--output-file",
            str(out),
        ],
        check=True,
        timeout=60,
    )
    assert "#worker_hang_timeout = 60" in out.read_text()
