"""``oslo-threading-run demo-submit COUNT``: queue requests for the demo scheduler."""

from __future__ import annotations

import os

from oslo_config import cfg

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
