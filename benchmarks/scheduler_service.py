"""A scheduler-like service, written once against the oslo.service API.

Every variant runs this same code: ``_api.select()`` decides what ``service``,
``loopingcall``, ``scatter_gather`` and ``request_pool`` are. In each worker:

- a periodic task refreshes the host state: a scatter-gather over 5 cells, each
  answering with ~1 MB of host records after 10 ms of I/O (nova's scheduler
  refreshing its HostManager);
- request threads each serve a request every 50 ms: a scatter-gather over the
  cells (2 ms of I/O each, a few records back) and a pass over the host state;
- under load, a 50 ms FixedIntervalLoopingCall measures its own lateness for 10 s,
  then how long ``stop()`` takes to end it;
- ``shaped`` (the growth runs by pool size, _growth.py; the bench's scheduler
  step, which reproduces nova-scheduler's allocations, is sched_service.py): each
  request thread is a client whose call is dispatched on the RPC-style request
  pool (64 threads), and the request reads 400 host records from each cell on the
  scatter-gather pool, as nova's select_destinations reads the compute nodes of
  every cell. ``stop()`` stops that pool first and lets its calls in flight
  finish, as nova's Service.stop() stops its RPC server, on every variant
  (eventlet's thread group would otherwise kill them, which no RPC service does).

Idle, the request threads wait for requests that never come and the periodic task
sleeps. Events (serving, looping-call figures, stopped) are JSON lines written to
the file descriptor named by ``BENCH_REPORT_FD``, inherited by every worker.
"""

import json
import os
import statistics
import threading
import time

from _api import REFRESH_INTERVAL
from _api import loopingcall
from _api import request_pool
from _api import scatter_gather
from _api import service
from _api import stop_requests

CELLS = tuple(f"cell{n}" for n in range(5))
HOSTS_PER_CELL = 1600  # ~1 MB of records per cell (measured with tracemalloc)
SHAPED_HOSTS_PER_CELL = 400  # the compute nodes a scheduler request reads per cell
CELL_IO_SECONDS = 0.010
IDLE_REFRESH_INTERVAL = 3600.0
REQUEST_THREADS = 4
REQUEST_GAP = 0.05
REQUEST_IO_SECONDS = 0.002
GATHER_TIMEOUT = 10.0
PROBE_INTERVAL = 0.05
PROBE_SECONDS = float(os.environ.get("BENCH_PROBE_SECONDS", "10"))


def report(event, **fields):
    """Send one event to the benchmark harness (no-op outside it)."""
    fd = int(os.environ.get("BENCH_REPORT_FD", "-1"))
    if fd < 0:
        return
    fields.update(event=event, pid=os.getpid(), t=time.monotonic())
    # Under PIPE_BUF bytes: the write is atomic, lines from workers never interleave.
    os.write(fd, (json.dumps(fields) + "\n").encode())


def fetch_host_records(cell, hosts=HOSTS_PER_CELL):
    """One cell's host records, after the I/O of a database query."""
    time.sleep(CELL_IO_SECONDS)
    now = time.time()
    return [
        {
            "uuid": f"{cell}-{i:08d}-0000-4000-8000-000000000000",
            "host": f"{cell}-compute-{i:05d}",
            "vcpus": 64,
            "vcpus_used": i % 64,
            "memory_mb": 262144,
            "free_ram_mb": 1000 + i * 7,
            "free_disk_gb": 500 + i,
            "aggregates": [f"agg-{i % 8}"],
            "traits": ("HW_CPU_X86_AVX2", "COMPUTE_NET_VIF_MODEL_VIRTIO"),
            "updated_at": now,
        }
        for i in range(hosts)
    ]


def lookup_instances(cell, request_id):
    """A small per-cell query made while serving a request."""
    time.sleep(REQUEST_IO_SECONDS)
    return [{"cell": cell, "request": request_id, "instance": n} for n in range(3)]


class SchedulerService(service.Service):
    """``shaped``: dispatch each request on the RPC-style request pool (64 threads,
    oslo.messaging's executor) and, as nova's select_destinations does, read each
    cell's compute nodes per request on the scatter-gather pool."""

    def __init__(self, under_load=True, shaped=False):
        super().__init__()
        self.under_load = under_load
        self.shaped = shaped
        self.host_state = {}
        self.requests_served = 0
        self._stopping = None

    def start(self):
        super().start()
        self._stopping = threading.Event()
        self.refresh_host_state()
        interval = REFRESH_INTERVAL if self.under_load else IDLE_REFRESH_INTERVAL
        self.tg.add_timer(interval, self.refresh_host_state, interval)
        for n in range(REQUEST_THREADS):
            self.tg.add_thread(self.serve_requests, n)
        if self.under_load and loopingcall is not None:
            self.tg.add_thread(self.probe_looping_call)
        report("serving")

    def stop(self, graceful=False):
        if self._stopping is not None:  # the eventlet master stops a never-started copy
            self._stopping.set()
            if self.shaped:
                # As nova's Service.stop(): the RPC server first (calls in flight
                # finish, on every variant), then the thread group.
                stop_requests()
            report("stopping", requests=self.requests_served)
        super().stop(graceful)

    def refresh_host_state(self):
        results = scatter_gather(CELLS, fetch_host_records, timeout=GATHER_TIMEOUT)
        self.host_state = {
            cell: hosts for cell, hosts in results.items() if isinstance(hosts, list)
        }

    def serve_requests(self, thread_number):
        gap = REQUEST_GAP if self.under_load else None
        while not self._stopping.wait(gap):
            if self.shaped:
                # A client's call: the RPC server dispatches it on its pool.
                try:
                    call = request_pool().submit(self.select_destination, thread_number)
                except RuntimeError:
                    return  # the server stopped consuming (stop())
                call.result()
            else:
                self.select_destination(thread_number)

    def select_destination(self, thread_number):
        if self.shaped:
            results = scatter_gather(
                CELLS, fetch_host_records, SHAPED_HOSTS_PER_CELL, timeout=GATHER_TIMEOUT
            )
            hosts = results.get(CELLS[self.requests_served % len(CELLS)], ())
            hosts = hosts if isinstance(hosts, list) else ()
        else:
            scatter_gather(CELLS, lookup_instances, thread_number, timeout=GATHER_TIMEOUT)
            hosts = self.host_state.get(CELLS[self.requests_served % len(CELLS)], ())
        best = None
        for host in hosts:
            if host["vcpus_used"] < 60 and (
                best is None or host["free_ram_mb"] > best["free_ram_mb"]
            ):
                best = host
        self.requests_served += 1
        return best

    def probe_looping_call(self):
        ticks = []
        call = loopingcall.FixedIntervalLoopingCall(lambda: ticks.append(time.monotonic()))
        call.start(interval=PROBE_INTERVAL)
        self._stopping.wait(PROBE_SECONDS)
        started = time.monotonic()
        call.stop()
        call.wait()
        stop_seconds = time.monotonic() - started
        # A tick is late by how much more than the interval it came after its
        # predecessor (an early tick is not late). Drift: how far the last tick is
        # behind a perfectly regular schedule started at the first one.
        lateness = [
            max(0.0, b - a - PROBE_INTERVAL) for a, b in zip(ticks, ticks[1:], strict=False)
        ]
        if lateness:
            report(
                "looping_call",
                ticks=len(ticks),
                mean_lateness=statistics.fmean(lateness),
                worst_lateness=max(lateness),
                drift=ticks[-1] - ticks[0] - (len(ticks) - 1) * PROBE_INTERVAL,
                stop_seconds=stop_seconds,
            )
