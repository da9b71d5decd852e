"""The demo's options, in group ``[demo]``: each has a default, no config file is needed."""

from __future__ import annotations

import copy

from oslo_config import cfg

GROUP = "demo"

demo_opts = [
    cfg.StrOpt(
        "state_dir",
        default="demo-state",
        help="Directory of the demo's SQLite files (one per cell and the request "
        "queue), created on first run. A relative path is under the current directory.",
    ),
    cfg.IntOpt(
        "cells",
        default=3,
        min=1,
        max=10,
        help="Number of cell databases, named cell1, cell2, ...",
    ),
    cfg.IntOpt(
        "hosts_per_cell",
        default=4,
        min=1,
        help="Hosts created in each new cell database.",
    ),
    cfg.IntOpt(
        "request_threads",
        default=2,
        min=1,
        help="Threads of each worker taking requests from the queue.",
    ),
    cfg.FloatOpt(
        "lease_seconds",
        default=30.0,
        min=0.1,
        help="How long a worker may hold a request it took. A claim whose lease "
        "expired, or whose owner process is gone, goes back to the queue.",
    ),
    cfg.FloatOpt(
        "cell_timeout",
        default=2.0,
        min=0.01,
        help="Seconds to wait for a cell's host states; a cell slower than this "
        "(or locked) is skipped for that request.",
    ),
    cfg.FloatOpt(
        "stats_interval",
        default=10.0,
        min=0.1,
        help="Seconds between two throughput lines of each worker.",
    ),
    cfg.FloatOpt(
        "test_request_delay",
        default=0.0,
        min=0.0,
        help="For tests only: seconds each request is held after a worker took it "
        "and before its host is chosen, so that a test can kill or stop a worker "
        "in the middle of a request. Leave it at 0.",
    ),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    """Register the ``[demo]`` options on ``conf``; safe to call more than once."""
    conf.register_opts(demo_opts, group=GROUP)


def list_opts() -> list[tuple[str, list[cfg.Opt]]]:
    """Entry point for oslo-config-generator."""
    return [(GROUP, copy.deepcopy(demo_opts))]
