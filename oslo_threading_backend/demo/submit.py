"""``oslo-threading-run demo-submit COUNT``: queue requests for the demo scheduler."""

from __future__ import annotations

import os
import shlex

from oslo_config import cfg

from oslo_threading_backend._cli import invocation as _invocation
from oslo_threading_backend.demo import options
from oslo_threading_backend.demo import requests_queue


def submit(conf: cfg.ConfigOpts, count: int) -> list[int]:
    """Queue ``count`` requests in the queue of ``[demo] state_dir``; returns their ids.

    Creates the state directory and the queue if the scheduler never ran there.
    """
    options.register_opts(conf)
    state_dir = os.path.abspath(conf.demo.state_dir)
    os.makedirs(state_dir, exist_ok=True)
    path = requests_queue.queue_path(state_dir)
    requests_queue.create_queue(path)
    return requests_queue.submit(path, count)


def command_line(conf: cfg.ConfigOpts, count: int) -> str:
    """The ``demo-submit`` command that reaches this process's state, typed where it started.

    Named after how this process was started (``.venv/bin/python -m
    oslo_threading_backend``, ``.venv/bin/oslo-threading-run``, ...), so that
    it works when pasted into a second terminal in the same directory. With a
    ``[demo] state_dir`` other than the default it passes the same config files.
    """
    options.register_opts(conf)
    argv = [*_invocation.runner_command(), "demo-submit", str(count)]
    default = next(opt.default for opt in options.demo_opts if opt.name == "state_dir")
    if os.path.abspath(conf.demo.state_dir) != os.path.abspath(default):
        for path in conf.config_file:
            argv += ["--config-file", path]
        for path in conf.config_dir or ():
            argv += ["--config-dir", path]
    return shlex.join(argv)
