"""The scheduler step of tox -e bench: nova-scheduler's shape, load and memory, on RabbitMQ.

Reproduces the field measurement of ``../shared/field/nova`` (the real nova-scheduler,
``LOAD=1``) inside the bench: sched_service.py in 2 forked workers, each with
oslo.messaging's RPC server (default executor, 64 threads) on the run's RabbitMQ
node (bench_rpc's, started once), a futurist cell pool of 40, and oslo.db sessions
on sqlite cell files opened and closed on whichever pool thread runs the task.
This process is the client (as nova-conductor): CLIENTS threads calling
``select_destinations`` for LOAD_SECONDS. Per run:

- idle: worker USS once every worker serves, before any call;
- warm-up: WARMUP_CALLS calls from one client;
- during load: every SAMPLE_SECONDS each worker's USS/RSS and OS threads; the
  figure is the median, over the samples in the second half of the load, of the
  mean of both workers (the field's "during load");
- throughput (answered calls per second) and median and p99 latency of the calls;
- after load: the same, AFTER_SECONDS after the last call (past a 5 s idle exit);
- SIGTERM with STOP_CLIENTS still calling, to every process gone: the median of
  this stop and EXTRA_STOPS (BENCH_EXTRA_STOPS, default 2) fresh runs' stops;
  and the calls sent before those SIGTERMs that were never answered (their sum).

The ours variant runs twice per round: as the machine gives it and with
MALLOC_ARENA_MAX=128 (glibc's default arena cap on a 16-CPU host; here it is
8 per CPU). Environment: BENCH_SCHED_LOAD_SECONDS (default 40; 10 with
BENCH_QUICK=1), BENCH_SCHED_ROUNDS (default 3: the step runs in the first rounds
only), BENCH_SCHED_ARENA=0 skips the arena-cap run, BENCH_SCHED_OURS=launcher runs
ours under our ProcessLauncher instead of oslo-threading-exec,
BENCH_SCHED_BEFORE (see _before.py) picks the package before the change that ours
runs from once more per round (the speed targets then compare within each round).
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import statistics
import sys
import threading
import time
import uuid

HERE = pathlib.Path(__file__).resolve().parent

from _runs import Run  # noqa: E402
from _runs import RunFailed  # noqa: E402
from _runs import memory_of  # noqa: E402
import bench_rpc  # noqa: E402

QUICK = os.environ.get("BENCH_QUICK", "") not in ("", "0")
LOAD_SECONDS = float(os.environ.get("BENCH_SCHED_LOAD_SECONDS", "10" if QUICK else "40"))
ARENA_RUN = os.environ.get("BENCH_SCHED_ARENA", "1") != "0"
# The step runs in the first ROUNDS rounds only (each is ~1.3 min per variant run).
ROUNDS = int(os.environ.get("BENCH_SCHED_ROUNDS", "3"))
ARENA_ENV = {"MALLOC_ARENA_MAX": "128"}
# How ours runs: "exec", the unmodified program (oslo.service's threading backend
# selected, as nova does) under oslo-threading-exec, as in the field; "launcher",
# the program written against this package's API (our ProcessLauncher).
OURS_VIA = os.environ.get("BENCH_SCHED_OURS", "exec")
if OURS_VIA not in ("exec", "launcher"):
    raise SystemExit(f"BENCH_SCHED_OURS={OURS_VIA!r}: expected 'exec' or 'launcher'")
# "Before the change", run in the same rounds (see _before.py): set by prepare().
BEFORE = {"dir": None, "why": "not prepared", "unchanged": False}
CLIENTS = 4  # the field's LOAD_CLIENTS
WARMUP_CALLS = 10
SAMPLE_SECONDS = 3.0
AFTER_SECONDS = 12.0  # the field's AFTER_S (thread_pool_statistic_period + 2)
# A stop under load is one sample of a noisy figure: the step's is the median of
# its main run's stop and EXTRA_STOPS fresh runs' (as bench_backends' other steps).
EXTRA_STOPS = int(os.environ.get("BENCH_EXTRA_STOPS", "0" if QUICK else "2"))
STOP_CLIENTS = 4
STOP_LOAD_SECONDS = 3.0
CALL_TIMEOUT = 30  # the field clients' long_rpc_timeout
STOP_CALL_TIMEOUT = 10
WORKERS = 2

_cells: dict = {}
_rounds: dict[str, int] = {}


def _cells_dir(workdir: str) -> str:
    """The cell databases, written once per benchmark run."""
    if "dir" not in _cells:
        import sched_cells

        directory = os.path.join(workdir, "cells")
        os.makedirs(directory, exist_ok=True)
        sched_cells.create(directory)
        _cells["dir"] = directory
    return _cells["dir"]


def _spec(n: int) -> dict:
    """A RequestSpec's worth of payload (flavor, image, scheduler hints), as a dict."""
    return {
        "flavor": {"memory_mb": 512, "vcpus": 1, "root_gb": 1, "extra_specs": {}},
        "image": {"id": "155d900f-4e14-4e4c-a73d-069cbf4541e6", "arch": "x86_64"},
        "project_id": "6f70656e737461636b20342065766572",
        "scheduler_hints": {"group": [], "different_host": []},
        "request_id": f"req-{n:08d}",
        "num_instances": 1,
    }


@contextlib.contextmanager
def _service(variant: str, url: str, workdir: str, env: dict, log_dir: str, package_dir=None):
    """(client, run): the variant's scheduler started on a topic of its own."""
    messaging = bench_rpc._client_messaging()
    from oslo_config import cfg

    topic = f"sched-{variant}-{uuid.uuid4().hex[:8]}"
    config_file = os.path.join(workdir, f"{topic}.conf")
    with open(config_file, "w") as f:
        f.write(f"[DEFAULT]\ntransport_url = {url}\n")
    transport = messaging.get_rpc_transport(cfg.CONF, url=url)
    client = messaging.get_rpc_client(
        transport, messaging.Target(topic=topic), timeout=CALL_TIMEOUT
    )
    args = [config_file, topic, _cells_dir(workdir)]
    program = [str(HERE / "sched_service.py"), variant, *args]
    if variant == "ours" and OURS_VIA == "exec":
        # python <bin>/oslo-threading-exec python sched_service.py oslo-threading ...
        exec_script = str(pathlib.Path(sys.executable).parent / "oslo-threading-exec")
        program = [exec_script, sys.executable, program[0], "oslo-threading", *args]
    try:
        with Run(
            variant,
            "sched",
            log_dir,
            workers=WORKERS,
            env=env,
            program=program,
            package_dir=package_dir,
        ) as run:
            yield client, run
    finally:
        transport.cleanup()


def _call(client, n: int) -> None:
    selections = client.call(
        {}, "select_destinations", spec=_spec(n), instance_uuids=[str(uuid.uuid4())]
    )
    if not selections or not selections[0]:
        raise RunFailed(f"select_destinations answered {selections!r}")


class _Clients:
    """Client threads calling select_destinations in a loop until stopped."""

    def __init__(self, client, count: int) -> None:
        self.stopping = threading.Event()
        self.calls: list[tuple[float, float]] = []  # (start, latency s)
        self.errors: list[tuple[float, BaseException]] = []  # (when sent, what it raised)
        self._client = client
        self._threads = [
            threading.Thread(target=self._loop, args=(n,), daemon=True) for n in range(count)
        ]
        for thread in self._threads:
            thread.start()

    def _loop(self, slot: int) -> None:
        n = 0
        while not self.stopping.is_set():
            started = time.monotonic()
            try:
                _call(self._client, slot * 1_000_000 + n)
            except Exception as exc:  # counted, then judged by the caller
                self.errors.append((started, exc))
                continue
            self.calls.append((started, time.monotonic() - started))
            n += 1

    def stop(self, timeout: float) -> None:
        self.stopping.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))


def _workers_memory(pids) -> dict[str, float]:
    found = [memory_of(pid) for pid in pids]
    return {key: statistics.mean(m[key] for m in found) for key in ("uss", "rss", "threads")}


def _during(samples: list[tuple[float, dict]], began: float, ended: float, key: str) -> float:
    """The field's "during load": median over the second half's samples."""
    half = [m for t, m in samples if t >= began + (ended - began) / 2] or [m for _, m in samples]
    return statistics.median(m[key] for m in half)


def _check_backend(run: Run, package_dir) -> None:
    """Ours must run on this package (from ``package_dir`` if given), the others on
    oslo.service: the master says which launcher it used, and from where."""
    (launching,) = run.wait_for(
        lambda ev: [e for e in ev if e["event"] == "launching"], 10.0, "launching event"
    )
    ours = launching["launcher"].startswith("oslo_threading_backend.")
    where = os.path.realpath(launching["launcher_file"])
    if ours != (run.variant == "ours") or (
        package_dir and not where.startswith(os.path.realpath(package_dir) + os.sep)
    ):
        raise RunFailed(f"{run.variant} ran on {launching['launcher']} from {where}")


def _first_answer(client, run: Run) -> None:
    messaging = sys.modules["oslo_messaging"]
    for n in range(10):
        try:
            client.prepare(timeout=10).call(
                {}, "select_destinations", spec=_spec(n), instance_uuids=["warm"]
            )
            return
        except messaging.MessagingTimeout:
            continue
    raise RunFailed(f"{run.variant}: no call answered; log:\n{run.tail()}")


def _stop_under_load(client, run: Run) -> tuple[float, int]:
    """SIGTERM with STOP_CLIENTS calling: (seconds to every process gone, calls lost).

    A call lost is one sent before the SIGTERM that was never answered: a
    graceful stop answers what its service took (a stop that drops acknowledged
    calls is quicker, and its callers wait for their timeout).
    """
    stoppers = _Clients(client.prepare(timeout=STOP_CALL_TIMEOUT), STOP_CLIENTS)
    run.drain(STOP_LOAD_SECONDS)
    signalled = time.monotonic()
    gone = run.sigterm_to_gone()
    stoppers.stop(STOP_CALL_TIMEOUT + 2)
    return gone, sum(1 for sent, _ in stoppers.errors if sent < signalled)


def _extra_stop(variant: str, url: str, workdir: str, log_dir: str) -> tuple[float, int]:
    """One more SIGTERM-under-load sample, from a fresh service."""
    with _service(variant, url, workdir, {}, log_dir) as (client, run):
        run.wait_serving()
        _check_backend(run, None)
        _first_answer(client, run)
        return _stop_under_load(client, run)


def measure_once(
    variant: str,
    url: str,
    workdir: str,
    env: dict | None = None,
    log_dir: str | None = None,
    package_dir: str | None = None,
) -> dict:
    """One run of the scheduler: memory idle, during and after load, speed, stop."""
    service = _service(variant, url, workdir, dict(env or {}), log_dir or workdir, package_dir)
    with service as (client, run):
        run.wait_serving()
        _check_backend(run, package_dir)
        pids = run.worker_pids
        idle = _workers_memory(pids)
        _first_answer(client, run)
        for n in range(WARMUP_CALLS):
            _call(client, n)
        samples = []
        clients = _Clients(client, CLIENTS)
        began = time.monotonic()
        while time.monotonic() - began < LOAD_SECONDS:
            run.drain(min(SAMPLE_SECONDS, LOAD_SECONDS - (time.monotonic() - began)))
            samples.append((time.monotonic(), _workers_memory(pids)))
        clients.stop(CALL_TIMEOUT + 5)
        ended = time.monotonic()
        if clients.errors:
            raise RunFailed(
                f"{variant}: {len(clients.errors)} calls failed under load: "
                f"{clients.errors[0][1]!r}\n{run.tail()}"
            )
        run.drain(AFTER_SECONDS)
        after = _workers_memory(pids)
        gone, lost = _stop_under_load(client, run)
    latencies = sorted(latency * 1e3 for _, latency in clients.calls)
    if not latencies:
        raise RunFailed(f"{variant}: no call answered under load")
    return {
        "uss_idle_mib": idle["uss"],
        "uss_mib": _during(samples, began, ended, "uss"),
        "rss_mib": _during(samples, began, ended, "rss"),
        "threads": _during(samples, began, ended, "threads"),
        "uss_after_mib": after["uss"],
        "threads_after": after["threads"],
        "requests_per_s": len(latencies) / (ended - began),
        "median_ms": statistics.median(latencies),
        "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        "sigterm_s": gone,
        "stop_lost_calls": lost,
    }


def prepare(baseline: dict | None, saving_baseline: bool) -> str:
    """Decide what "ours before the change" is for this run (BENCH_SCHED_BEFORE)."""
    import _before

    if saving_baseline:
        BEFORE.update(dir=None, why="none: this run is the baseline", unchanged=False)
    else:
        setting = os.environ.get("BENCH_SCHED_BEFORE")
        BEFORE["dir"], BEFORE["why"], BEFORE["unchanged"] = _before.resolve(setting, baseline)
    return BEFORE["why"]


def run_sched(variant: str, log_dir: str) -> dict[str, float]:
    """bench_backends step: the scheduler figures of one round for ``variant``."""
    _rounds[variant] = _rounds.get(variant, 0) + 1
    if _rounds[variant] > ROUNDS:
        return {}
    url = bench_rpc._step_broker_url()
    workdir = bench_rpc._step_state["workdir"]
    try:
        figures = measure_once(variant, url, workdir, log_dir=log_dir)
        stops = [(figures["sigterm_s"], figures["stop_lost_calls"])]
        stops += [_extra_stop(variant, url, workdir, log_dir) for _ in range(EXTRA_STOPS)]
        figures["sigterm_s"] = statistics.median(gone for gone, _ in stops)
        figures["stop_lost_calls"] = sum(lost for _, lost in stops)
        sample = {f"sched_{key}": value for key, value in figures.items()}
        if variant == "ours" and ARENA_RUN:
            capped = measure_once(variant, url, workdir, ARENA_ENV, log_dir)
            for key in ("uss_mib", "uss_after_mib", "threads", "requests_per_s", "p99_ms"):
                sample[f"sched_a128_{key}"] = capped[key]
        if variant == "ours" and BEFORE["dir"]:
            before = measure_once(variant, url, workdir, None, log_dir, BEFORE["dir"])
            for key in ("uss_mib", "uss_after_mib", "threads", "requests_per_s", "p99_ms"):
                sample[f"sched_before_{key}"] = before[key]
    except RunFailed as exc:
        raise ValueError(str(exc)) from exc
    return sample
