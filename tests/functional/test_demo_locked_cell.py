"""A locked cell is skipped for each request (DID_NOT_RESPOND); no request waits for it."""

import contextlib
import re
import signal
import sqlite3
import time

import pytest

from tests.functional import runner_harness
from tests.functional.harness import poll

CONFIG = {
    "DEFAULT": {"graceful_shutdown_timeout": 10},
    "demo": {"cell_timeout": 0.3, "stats_interval": 0.5},
}


@pytest.fixture
def runner_process(tmp_path):
    yield from runner_harness.runner_processes(tmp_path)


@contextlib.contextmanager
def locked(path):
    """Hold an exclusive lock on a SQLite file: nobody else can even read it."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("BEGIN EXCLUSIVE")
        yield
    finally:
        conn.close()


def test_a_locked_cell_is_skipped_for_each_request_until_it_is_free(runner_process):
    run = runner_process().start(config=CONFIG)
    run.wait_for_workers(2)
    run.wait_for_log(r"(?s)(takes requests on 2 threads.*){2}")

    with locked(run.state_dir / "cell2.sqlite"):
        started = time.monotonic()
        run.submit(6)
        poll(lambda: run.all_done(6), timeout=10, what="6 requests done")
        elapsed = time.monotonic() - started
        # The periodic task reports the skipped cells, with the pool's statistics.
        run.wait_for_log(
            r"Throughput of pid \d+: \d+ requests in [\d.]+ s .*, [1-9]\d* cell answers "
            r"skipped; scatter_gather pool: max_workers 6, workers \d+, idle \d+, queued \d+"
        )
    # Each request waited about cell_timeout for the cell, not for its lock.
    assert elapsed < 6, elapsed
    requests = runner_harness.assert_scheduled_exactly_once(run, 6)
    assert "cell2" not in {r["cell"] for r in requests.values()}
    for request_id in requests:
        assert re.search(
            rf"Request {request_id}: skipping cell cell2, which did not respond within 0.3 s",
            run.log(),
        )

    # Free again: the next request hears from every cell.
    run.submit(1)
    poll(lambda: run.all_done(7), what="7 requests done")
    runner_harness.assert_scheduled_exactly_once(run, 7)
    assert "Request 7: skipping" not in run.log()

    run.send(signal.SIGTERM)
    assert run.wait_exit() == 0
