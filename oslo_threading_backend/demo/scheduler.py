"""The demo's service: a scheduler whose forked workers drain the request queue.

In each worker process:

- ``[demo] request_threads`` threads of the service's ThreadGroup take
  requests from the queue, one at a time each;
- for a request, the host states of every cell are scatter-gathered on the
  'scatter_gather' pool; a cell that does not answer within
  ``[demo] cell_timeout`` (slow, or locked) is DID_NOT_RESPOND and is skipped
  for that request: the request is not held up by it;
- the host with the most free slots is claimed, and the decision recorded, in
  one transaction over the queue's file and that cell's file (SQLite ATTACH:
  both change or neither does), so a request is placed exactly once;
- a periodic task logs the worker's throughput and the pool's statistics (at
  INFO when the worker scheduled a request or skipped a cell, else at DEBUG).

``create_service(conf)`` is the runner's default target.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time

from oslo_config import cfg

from oslo_threading_backend import executors
from oslo_threading_backend import periodic_task
from oslo_threading_backend import pool_statistics
from oslo_threading_backend import service
from oslo_threading_backend import threadgroup
from oslo_threading_backend.demo import cells
from oslo_threading_backend.demo import options
from oslo_threading_backend.demo import requests_queue
from oslo_threading_backend.demo import storage
from oslo_threading_backend.demo import submit
from oslo_threading_backend.scatter_gather import DID_NOT_RESPOND
from oslo_threading_backend.scatter_gather import scatter_gather

LOG = logging.getLogger(__name__)

#: Seconds a request thread waits before looking at an empty queue again.
IDLE_WAIT = 0.2
#: Seconds a request thread waits after no cell at all answered.
RETRY_WAIT = 1.0

# What claiming a host for a request can end with.
SCHEDULED = "scheduled"
HOST_FULL = "host full"
CLAIM_LOST = "claim lost"


def create_service(conf: cfg.ConfigOpts) -> SchedulerService:
    """The runner's default target; runs in the master process, before any fork.

    Registers the ``[demo]`` options and creates the state on first run.
    """
    options.register_opts(conf)
    executors.register_opts(conf)
    demo = conf.demo
    # Enough scatter-gather threads for every request thread to ask every cell at once.
    conf.set_default("scatter_gather_thread_pool_size", demo.cells * demo.request_threads)

    state_dir = os.path.abspath(demo.state_dir)
    os.makedirs(state_dir, exist_ok=True)
    for cell in cells.cell_names(demo.cells):
        cells.create_cell(state_dir, cell, demo.hosts_per_cell)
    queue = requests_queue.queue_path(state_dir)
    requests_queue.create_queue(queue)
    counts = requests_queue.count_by_state(queue)
    LOG.info(
        "Demo state in %s: %d cells of %d hosts, %d requests waiting; queue more with: %s",
        state_dir,
        demo.cells,
        demo.hosts_per_cell,
        counts.get("queued", 0) + counts.get("claimed", 0),
        submit.command_line(conf, 20),
    )
    return SchedulerService(conf)


class Throughput:
    """Counters of one worker, updated by its request threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.total = 0
        self._count = 0
        self._skipped = 0
        self._since = time.monotonic()

    def scheduled(self) -> None:
        with self._lock:
            self.total += 1
            self._count += 1

    def cell_skipped(self) -> None:
        with self._lock:
            self._skipped += 1

    def take_report(self) -> tuple[int, int, float]:
        """(requests, cells skipped, seconds) since the previous report."""
        with self._lock:
            now = time.monotonic()
            report = (self._count, self._skipped, now - self._since)
            self._count, self._skipped, self._since = 0, 0, now
        return report


def _log_throughput(tasks: SchedulerTasks, context: object) -> None:
    count, skipped, seconds = tasks.throughput.take_report()
    pool = pool_statistics.pool_state(executors.get_executor(executors.SCATTER_GATHER))
    # An idle worker's line every period says nothing an operator needs: DEBUG.
    level = logging.INFO if count or skipped else logging.DEBUG
    LOG.log(
        level,
        "Throughput of pid %d: %d requests in %.1f s (%.1f/s), %d since start, "
        "%d cell answers skipped; scatter_gather pool: max_workers %d, workers %d, "
        "idle %d, queued %d, %s, stuck %d",
        os.getpid(),
        count,
        seconds,
        count / seconds if seconds else 0.0,
        tasks.throughput.total,
        skipped,
        *pool,
    )


class SchedulerTasks(periodic_task.PeriodicTasks):
    """The scheduler's periodic task: a throughput line every ``[demo] stats_interval`` s."""

    def __init__(self, conf: cfg.ConfigOpts, throughput: Throughput) -> None:
        super().__init__(conf)
        self.throughput = throughput
        every = periodic_task.periodic_task(
            spacing=conf.demo.stats_interval, name="log_throughput"
        )
        self.add_periodic_task(every(_log_throughput))


class SchedulerService(service.Service):
    """One scheduler per worker: request threads, and a timer running the periodic tasks."""

    def __init__(self, conf: cfg.ConfigOpts) -> None:
        super().__init__(threads=conf.demo.request_threads)
        self.conf = conf
        self.state_dir = os.path.abspath(conf.demo.state_dir)
        self.cells = cells.cell_names(conf.demo.cells)
        self.queue = requests_queue.queue_path(self.state_dir)
        self.throughput = Throughput()

    def start(self) -> None:
        self.tasks = SchedulerTasks(self.conf, self.throughput)
        for _ in range(self.tg.thread_pool_size):
            self.tg.add_thread(self._serve_requests)
        self.tg.add_dynamic_timer(
            self._run_periodic_tasks, periodic_interval_max=self.conf.demo.stats_interval
        )
        LOG.info(
            "Scheduler worker pid %d takes requests on %d threads from %s",
            os.getpid(),
            self.tg.thread_pool_size,
            self.queue,
        )

    def wait(self) -> None:
        super().wait()
        LOG.info(
            "Scheduler worker pid %d stopped; it scheduled %d requests",
            os.getpid(),
            self.throughput.total,
        )

    def _run_periodic_tasks(self) -> float:
        return self.tasks.run_periodic_tasks(context=None)

    # -- a request thread ------------------------------------------------------

    @threadgroup.runs_until_stopped  # serves for the worker's life: not a stuck task
    def _serve_requests(self) -> None:
        """Take a request and schedule it, until the service is stopped."""
        stop = threadgroup.current_thread().stop_event
        while not stop.is_set():
            try:
                request = requests_queue.take(self.queue, self.conf.demo.lease_seconds)
            except sqlite3.Error as exc:
                LOG.warning("Could not take a request from the queue: %s", exc)
                request = None
            if request is None:
                stop.wait(IDLE_WAIT)
                continue
            try:
                self._schedule(request, stop)
            except sqlite3.Error as exc:
                LOG.warning("Request %d failed (%s); giving it back", request.id, exc)
                self._give_back(request, "of the error")

    def _schedule(self, request: requests_queue.Request, stop: threading.Event) -> None:
        started = time.monotonic()
        delay = self.conf.demo.test_request_delay
        if delay and stop.wait(delay):
            # Stopping before the work began: the request goes back, another worker takes it.
            self._give_back(request, "the worker is stopping")
            return

        hosts = self._gather_hosts(request)
        if hosts is None:
            self._give_back(request, "no cell answered")
            stop.wait(RETRY_WAIT)
            return
        for choice in sorted(hosts, key=lambda h: (-h.free, h.cell, h.host)):
            if choice.free < 1:
                break
            outcome = self._claim(request, choice)
            if outcome == SCHEDULED:
                self.throughput.scheduled()
                LOG.info(
                    "Scheduled request %d on %s in %s (attempt %d, %.0f ms)",
                    request.id,
                    choice.host,
                    choice.cell,
                    request.attempt,
                    (time.monotonic() - started) * 1000,
                )
                return
            if outcome == CLAIM_LOST:
                LOG.warning(
                    "Request %d: this worker's claim expired and was taken back; "
                    "leaving it to the worker that has it now",
                    request.id,
                )
                return
            # HOST_FULL: another worker took its last slot meanwhile; try the next host.
        self._record_no_host(request)

    def _gather_hosts(self, request: requests_queue.Request) -> list[cells.HostState] | None:
        """Host states of every cell that answered in time; None if none did."""
        timeout = self.conf.demo.cell_timeout
        answers = scatter_gather(
            self.cells, cells.host_states, self.state_dir, timeout, timeout=timeout
        )
        hosts: list[cells.HostState] = []
        answered = False
        for cell, answer in answers.items():
            if answer is DID_NOT_RESPOND or isinstance(answer, Exception):
                self.throughput.cell_skipped()
                why = (
                    f"did not respond within {timeout} s"
                    if answer is DID_NOT_RESPOND
                    else f"failed: {answer}"
                )
                LOG.warning("Request %d: skipping cell %s, which %s", request.id, cell, why)
                continue
            answered = True
            hosts.extend(answer)
        return hosts if answered else None

    def _claim(self, request: requests_queue.Request, choice: cells.HostState) -> str:
        """Take a slot of the host and mark the request done, in one transaction."""
        with storage.connect(self.queue) as conn:
            # Attached before BEGIN IMMEDIATE, which then locks both files. The
            # commit is atomic across them as long as the journal mode is not WAL.
            conn.execute(
                "ATTACH DATABASE ? AS cell", (cells.cell_path(self.state_dir, choice.cell),)
            )
            with storage.transaction(conn):
                if not cells.take_slot(conn, choice.host, schema="cell"):
                    conn.execute("ROLLBACK")
                    return HOST_FULL
                if not requests_queue.mark_done(conn, request, choice.cell, choice.host):
                    conn.execute("ROLLBACK")  # the slot is not used after all
                    return CLAIM_LOST
        return SCHEDULED

    def _record_no_host(self, request: requests_queue.Request) -> None:
        with storage.connect(self.queue) as conn, storage.transaction(conn):
            done = requests_queue.mark_done(conn, request, None, None)
        if done:
            LOG.warning("Request %d: no host has a free slot; recorded as not placed", request.id)

    def _give_back(self, request: requests_queue.Request, why: str) -> None:
        try:
            given_back = requests_queue.release(self.queue, request)
        except sqlite3.Error as exc:
            LOG.warning(
                "Could not give request %d back (%s); its lease will expire", request.id, exc
            )
            return
        if given_back:
            LOG.info("Gave request %d back to the queue because %s", request.id, why)
