import subprocess
import sys

from oslo_threading_backend import opts


def test_every_option_is_listed_once_for_the_generator():
    listed = [opt.name for _group, group_opts in opts.list_opts() for opt in group_opts]
    assert len(listed) == len(set(listed)), listed
    for name in (
        "graceful_shutdown_timeout",
        "log_options",
        "concurrency_backend",
        "default_thread_pool_size",
        "scatter_gather_thread_pool_size",
        "thread_pool_statistic_period",
        "run_external_periodic_tasks",
        "hung_task_threshold",
    ):
        assert name in listed


def test_oslo_config_generator_finds_the_namespace(tmp_path):
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
    text = out.read_text()
    assert "#graceful_shutdown_timeout = 60" in text
    assert "#default_thread_pool_size = 10" in text
