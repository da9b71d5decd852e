import contextlib
import logging
import os
import sqlite3
import threading
import time

import pytest

from oslo_threading_backend.demo import cells
from oslo_threading_backend.demo import options
from oslo_threading_backend.demo import requests_queue
from oslo_threading_backend.demo import scheduler
from oslo_threading_backend.demo import storage
from tests.unit.polling import wait_until


@pytest.fixture
def conf(executors_conf, tmp_path):
    conf = executors_conf
    conf([])
    options.register_opts(conf)
    conf.set_override("state_dir", str(tmp_path / "state"), group="demo")
    conf.set_override("hosts_per_cell", 2, group="demo")
    return conf


@pytest.fixture
def svc(conf):
    return scheduler.create_service(conf)


def used(svc):
    return {
        cell: dict(
            cells_rows(svc, cell, "SELECT name, used FROM hosts WHERE used > 0 ORDER BY name")
        )
        for cell in svc.cells
    }


def cells_rows(svc, cell, sql):
    with storage.connect(cells.cell_path(svc.state_dir, cell)) as conn:
        return conn.execute(sql).fetchall()


def request_row(svc, request_id):
    with storage.connect(svc.queue) as conn:
        return conn.execute(
            "SELECT state, cell, host, scheduled_by FROM requests WHERE id = ?", (request_id,)
        ).fetchone()


@contextlib.contextmanager
def locked(svc, cell):
    conn = sqlite3.connect(cells.cell_path(svc.state_dir, cell), isolation_level=None)
    try:
        conn.execute("BEGIN EXCLUSIVE")
        yield
    finally:
        conn.close()


def submit_and_take(svc, count=1, lease_seconds=30):
    requests_queue.submit(svc.queue, count)
    return requests_queue.take(svc.queue, lease_seconds)


def test_create_service_creates_the_state_on_first_run_and_keeps_it(conf, svc):
    assert sorted(os.listdir(svc.state_dir)) == [
        "cell1.sqlite",
        "cell2.sqlite",
        "cell3.sqlite",
        "requests.sqlite",
    ]
    assert cells_rows(svc, "cell2", "SELECT name, slots, used FROM hosts") == [
        ("cell2-host1", cells.HOST_SLOTS, 0),
        ("cell2-host2", cells.HOST_SLOTS, 0),
    ]
    request = submit_and_take(svc)
    svc._schedule(request, threading.Event())

    again = scheduler.create_service(conf)

    assert sum(sum(hosts.values()) for hosts in used(again).values()) == 1
    assert len(cells_rows(again, "cell2", "SELECT name FROM hosts")) == 2


def test_create_service_sizes_the_scatter_gather_pool_for_every_cell_of_every_thread(conf):
    conf.set_override("request_threads", 4, group="demo")
    scheduler.create_service(conf)
    assert conf.scatter_gather_thread_pool_size == 12


def test_a_request_takes_one_slot_of_the_freest_host_and_is_done(svc, caplog):
    caplog.set_level(logging.INFO)
    request = submit_and_take(svc)

    svc._schedule(request, threading.Event())

    assert used(svc) == {"cell1": {"cell1-host1": 1}, "cell2": {}, "cell3": {}}
    assert request_row(svc, 1) == ("done", "cell1", "cell1-host1", os.getpid())
    assert "Scheduled request 1 on cell1-host1 in cell1 (attempt 1," in caplog.text
    assert svc.throughput.total == 1

    svc._schedule(submit_and_take(svc), threading.Event())
    assert request_row(svc, 2)[2] == "cell1-host2"  # now the freest


def test_a_stale_owner_cannot_finish_a_request_taken_back_from_it(svc, caplog):
    stale = submit_and_take(svc, lease_seconds=-1)  # its lease is already over
    current = requests_queue.take(svc.queue, lease_seconds=30)
    assert current.id == stale.id

    svc._schedule(stale, threading.Event())

    assert used(svc) == {"cell1": {}, "cell2": {}, "cell3": {}}
    assert request_row(svc, 1)[0] == "claimed"
    assert "Request 1: this worker's claim expired and was taken back" in caplog.text

    svc._schedule(current, threading.Event())
    assert request_row(svc, 1)[0] == "done"
    assert sum(sum(hosts.values()) for hosts in used(svc).values()) == 1


def test_a_locked_cell_is_skipped_for_the_request(conf, svc, caplog):
    conf.set_override("cell_timeout", 0.1, group="demo")
    request = submit_and_take(svc)

    with locked(svc, "cell1"):
        started = time.monotonic()
        svc._schedule(request, threading.Event())
        elapsed = time.monotonic() - started

    assert elapsed < 5
    assert request_row(svc, 1)[:2] == ("done", "cell2")
    assert "Request 1: skipping cell cell1, which did not respond within 0.1 s" in caplog.text


def test_a_request_no_cell_answered_goes_back_to_the_queue(conf, svc, caplog):
    caplog.set_level(logging.INFO)
    conf.set_override("cell_timeout", 0.05, group="demo")
    request = submit_and_take(svc)
    stopped = threading.Event()
    stopped.set()  # so that the retry wait returns at once

    with locked(svc, "cell1"), locked(svc, "cell2"), locked(svc, "cell3"):
        svc._schedule(request, stopped)

    assert request_row(svc, 1)[0] == "queued"
    assert "Gave request 1 back to the queue because no cell answered" in caplog.text


def test_stopping_during_the_test_delay_gives_the_request_back(conf, svc, caplog):
    caplog.set_level(logging.INFO)
    conf.set_override("test_request_delay", 30, group="demo")
    request = submit_and_take(svc)
    stop = threading.Event()
    threading.Timer(0.05, stop.set).start()

    svc._schedule(request, stop)

    assert request_row(svc, 1)[0] == "queued"
    assert "Gave request 1 back to the queue because the worker is stopping" in caplog.text


def test_a_request_with_no_free_slot_anywhere_is_done_unplaced(svc, caplog):
    for cell in svc.cells:
        with storage.connect(cells.cell_path(svc.state_dir, cell)) as conn:
            conn.execute("UPDATE hosts SET used = slots")
    request = submit_and_take(svc)

    svc._schedule(request, threading.Event())

    assert request_row(svc, 1) == ("done", None, None, os.getpid())
    assert "Request 1: no host has a free slot" in caplog.text


def test_the_periodic_task_logs_throughput_and_pool_statistics(conf, svc, caplog):
    caplog.set_level(logging.INFO)
    conf.set_override("stats_interval", 0.1, group="demo")
    svc._schedule(submit_and_take(svc), threading.Event())
    tasks = scheduler.SchedulerTasks(conf, svc.throughput)

    def logged():
        tasks.run_periodic_tasks(context=None)
        return "Throughput of pid" in caplog.text

    wait_until(logged)
    assert (
        f"Throughput of pid {os.getpid()}: 1 requests in " in caplog.text
        and ", 1 since start, 0 cell answers skipped; scatter_gather pool: max_workers 6, "
        in caplog.text
    ), caplog.text


def test_an_idle_workers_throughput_line_is_debug(conf, svc, caplog):
    caplog.set_level(logging.DEBUG, logger=scheduler.__name__)
    conf.set_override("stats_interval", 0.1, group="demo")
    tasks = scheduler.SchedulerTasks(conf, svc.throughput)

    def logged():
        tasks.run_periodic_tasks(context=None)
        return [r for r in caplog.records if "Throughput of pid" in r.getMessage()]

    wait_until(logged)
    lines = logged()
    assert "0 requests in" in lines[0].getMessage()
    assert {r.levelno for r in lines} == {logging.DEBUG}
