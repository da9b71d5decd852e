"""An oslo.messaging RPC service on RabbitMQ, on this package and on oslo.service's backends.

Run: PYTHONPATH=. python benchmarks/bench_rpc.py (needs rabbitmq-server installed,
oslo.messaging, oslo.service 4.8.0 and eventlet). A RabbitMQ node of the run's own is
started (tests/integration/broker.py: own ports, node name, dirs and epmd) and ended.

For each round and variant (ours, oslo-threading, oslo-eventlet; alternating), the
service of rpc_service.py runs in 2 forked workers, in a fresh process, and this
process is the RPC client (oslo.messaging on native threads):

- first answer: seconds from starting the service to its first answered call;
- latency: median and p99 of CALLS sequential calls (no work in the endpoint);
- throughput: calls per second from CLIENT_THREADS concurrent clients for
  LOAD_SECONDS, each call doing CALL_IO_SECONDS of I/O in the endpoint;
- memory: RSS, USS (MiB) and threads of each worker after that load (mean of both);
- stop: seconds from SIGTERM to the master until it and every worker exited; the
  median of this run's stop and EXTRA_STOPS fresh runs' (STOP_LOAD_SECONDS of the
  same load, then SIGTERM), as bench_backends does for its stops under load.

``measure()`` returns {variant: {figure: median over rounds}}; ``main()`` prints the
table and the targets of the RPC service issue (stop and USS <= 1.0x eventlet).
Environment: BENCH_ROUNDS (default 3; 1 with BENCH_QUICK=1), BENCH_QUICK=1 (short
load), BENCH_VARIANTS=a,b (subset), BENCH_RPC_JSON=FILE (write the results),
BENCH_EXTRA_STOPS=N (default 2; 0 with BENCH_QUICK=1).
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import statistics
import sys
import tempfile
import threading
import time
import uuid

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO))

from _runs import Run  # noqa: E402
from _runs import RunFailed  # noqa: E402
from _runs import memory_of  # noqa: E402

VARIANTS = ("ours", "oslo-threading", "oslo-eventlet")
LABELS = {
    "ours": "oslo_threading_backend",
    "oslo-threading": "oslo.service threading",
    "oslo-eventlet": "oslo.service eventlet",
}
QUICK = os.environ.get("BENCH_QUICK", "") not in ("", "0")
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "1" if QUICK else "3"))
LOAD_SECONDS = 2.0 if QUICK else 10.0
CALLS = 50 if QUICK else 300
CLIENT_THREADS = 8
CALL_IO_SECONDS = 0.005
WORKERS = 2
EXTRA_STOPS = int(os.environ.get("BENCH_EXTRA_STOPS", "0" if QUICK else "2"))
STOP_LOAD_SECONDS = 1.0

FIGURES = (
    ("first_answer_s", "first answered call (s)"),
    ("latency_median_ms", "call latency, median (ms)"),
    ("latency_p99_ms", "call latency, p99 (ms)"),
    ("throughput_per_s", "throughput (calls/s)"),
    ("rss_mib", "worker RSS after load (MiB)"),
    ("uss_mib", "worker USS after load (MiB)"),
    ("threads", "worker threads after load"),
    ("sigterm_to_gone_s", "SIGTERM to all gone (s)"),
)


def _client_messaging():
    """oslo.messaging for the client side, on oslo.service's threading backend (as nova)."""
    from oslo_service import backend

    if backend.get_backend_type() is None:
        backend.init_backend(backend.BackendType.THREADING)
    import oslo_messaging

    return oslo_messaging


def _first_answer(client, run: Run) -> float:
    """Seconds from the service's start to its first answered call."""
    messaging = sys.modules["oslo_messaging"]
    run.wait_serving()
    for _ in range(10):
        try:
            client.prepare(timeout=5).call({}, "echo", value=0)
        except messaging.MessagingTimeout:
            continue
        return time.monotonic() - run.started_at
    raise RunFailed(f"{run.variant}: no call answered; log:\n{run.tail()}")


def _latencies(client) -> tuple[float, float]:
    samples = []
    for n in range(CALLS):
        started = time.perf_counter()
        client.call({}, "echo", value=n)
        samples.append((time.perf_counter() - started) * 1000.0)
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, int(len(samples) * 0.99))]


def _throughput(client, seconds: float = LOAD_SECONDS) -> float:
    done = [0] * CLIENT_THREADS
    errors = []
    deadline = time.monotonic() + seconds

    def stream(slot):
        try:
            while time.monotonic() < deadline:
                client.call({}, "echo", value=slot, seconds=CALL_IO_SECONDS)
                done[slot] += 1
        except Exception as exc:  # counted, then reported: a failed run is not a figure
            errors.append(exc)

    threads = [threading.Thread(target=stream, args=(n,)) for n in range(CLIENT_THREADS)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise RunFailed(f"{len(errors)} calls failed under load: {errors[0]!r}")
    return sum(done) / (time.monotonic() - started)


@contextlib.contextmanager
def _service(variant: str, url: str, workdir: str):
    """(client, run): the variant's service started on a topic of its own."""
    messaging = _client_messaging()
    from oslo_config import cfg

    topic = f"bench-{variant}-{uuid.uuid4().hex[:8]}"
    config_file = os.path.join(workdir, f"{topic}.conf")
    with open(config_file, "w") as f:
        f.write(f"[DEFAULT]\ntransport_url = {url}\n")
    transport = messaging.get_rpc_transport(cfg.CONF, url=url)
    client = messaging.get_rpc_client(transport, messaging.Target(topic=topic), timeout=30)
    try:
        program = [str(HERE / "rpc_service.py"), variant, config_file, topic]
        with Run(variant, "rpc", workdir, workers=WORKERS, program=program) as run:
            yield client, run
            if run.proc.returncode != 0:
                raise RunFailed(f"{variant}: exit status {run.proc.returncode}:\n{run.tail()}")
    finally:
        transport.cleanup()


def _stop_after_load(variant: str, url: str, workdir: str) -> float:
    """One more SIGTERM-to-gone sample: a fresh service, STOP_LOAD_SECONDS of load."""
    with _service(variant, url, workdir) as (client, run):
        _first_answer(client, run)
        _throughput(client, STOP_LOAD_SECONDS)
        return run.sigterm_to_gone()


def measure_once(variant: str, url: str, workdir: str) -> dict[str, float]:
    with _service(variant, url, workdir) as (client, run):
        result = {"first_answer_s": _first_answer(client, run)}
        pids = run.worker_pids
        result["latency_median_ms"], result["latency_p99_ms"] = _latencies(client)
        result["throughput_per_s"] = _throughput(client)
        memory = [memory_of(pid) for pid in pids]
        for key, field in (("rss_mib", "rss"), ("uss_mib", "uss"), ("threads", "threads")):
            result[key] = statistics.mean(m[field] for m in memory)
        stops = [run.sigterm_to_gone()]
    stops += [_stop_after_load(variant, url, workdir) for _ in range(EXTRA_STOPS)]
    result["sigterm_to_gone_s"] = statistics.median(stops)
    return result


def measure(rounds: int = ROUNDS, variants=None, url: str | None = None) -> dict:
    """{variant: {figure: median over rounds}}; starts (and ends) a broker if no url."""
    variants = tuple(variants or VARIANTS)
    with contextlib.ExitStack() as stack:
        workdir = stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-rpc-"))
        if url is None:
            from tests.integration import broker as broker_mod

            script = broker_mod.find_server_script()
            if script is None:
                raise RunFailed("rabbitmq-server is not installed")
            node = broker_mod.RabbitBroker(pathlib.Path(workdir) / "rabbitmq", script)
            stack.callback(node.close)
            node.start()
            url = node.url
        samples: dict[str, list[dict]] = {v: [] for v in variants}
        for _ in range(rounds):
            for variant in variants:
                samples[variant].append(measure_once(variant, url, workdir))
    return {
        v: {key: statistics.median(s[key] for s in runs) for key, _ in FIGURES}
        for v, runs in samples.items()
    }


def format_table(results: dict) -> str:
    variants = list(results)
    head = "| figure | " + " | ".join(LABELS[v] for v in variants) + " |"
    lines = [head, "|" + "---|" * (len(variants) + 1)]
    for key, label in FIGURES:
        values = " | ".join(f"{results[v][key]:.3g}" for v in variants)
        lines.append(f"| {label} | {values} |")
    return "\n".join(lines)


def targets(results: dict) -> list[tuple[str, float, bool]]:
    """(figure, ours / eventlet, met) for the issue's targets: <= 1.0x the eventlet backend."""
    if "ours" not in results or "oslo-eventlet" not in results:
        return []
    found = []
    for key in ("sigterm_to_gone_s", "uss_mib"):
        ratio = results["ours"][key] / results["oslo-eventlet"][key]
        found.append((key, ratio, ratio <= 1.0))
    return found


# --- As a step of tox -e bench (bench_backends.py): one broker for the whole run. ---

#: Rows of bench_backends' results table: (key, label, unit, decimals).
METRICS = (
    ("rpc_first_answer_s", "RPC service: start to first answered call", "s", 3),
    ("rpc_latency_median_ms", "RPC call latency, median", "ms", 2),
    ("rpc_latency_p99_ms", "RPC call latency, p99", "ms", 2),
    ("rpc_throughput_per_s", "RPC throughput (8 clients, 5 ms of I/O a call)", "/s", 0),
    ("rpc_rss_mib", "RPC worker RSS after load", "MiB", 1),
    ("rpc_uss_mib", "RPC worker USS after load", "MiB", 1),
    ("rpc_threads", "RPC worker OS threads after load", "", 0),
    ("rpc_sigterm_s", "RPC service: SIGTERM to every process gone", "s", 3),
)

_step_state: dict = {}


def _step_broker_url() -> str:
    """Start the run's broker at the first RPC step; ended when the process exits."""
    if "url" not in _step_state:
        import atexit

        from tests.integration import broker as broker_mod

        script = broker_mod.find_server_script()
        if script is None:
            raise RunFailed("rabbitmq-server is not installed (apt-get install rabbitmq-server)")
        workdir = tempfile.mkdtemp(prefix="bench-rpc-")
        node = broker_mod.RabbitBroker(pathlib.Path(workdir) / "rabbitmq", script)
        atexit.register(node.close)
        node.start()
        _step_state.update(url=node.url, workdir=workdir)
    return _step_state["url"]


def broker_missing() -> str | None:
    """Why the RPC step cannot run (checked before the first round), or None."""
    from tests.integration import broker as broker_mod

    if broker_mod.find_server_script() is None:
        return (
            "the RPC step needs rabbitmq-server (apt-get install rabbitmq-server), "
            "or skip it with BENCH_RPC=0"
        )
    return None


def run_rpc(variant: str, log_dir: str) -> dict[str, float]:
    """bench_backends step: the RPC figures of one round for ``variant``."""
    url = _step_broker_url()
    try:
        figures = measure_once(variant, url, _step_state["workdir"])
    except RunFailed as exc:
        raise ValueError(str(exc)) from exc
    return {_STEP_KEYS[key]: value for key, value in figures.items()}


_STEP_KEYS = {
    "first_answer_s": "rpc_first_answer_s",
    "latency_median_ms": "rpc_latency_median_ms",
    "latency_p99_ms": "rpc_latency_p99_ms",
    "throughput_per_s": "rpc_throughput_per_s",
    "rss_mib": "rpc_rss_mib",
    "uss_mib": "rpc_uss_mib",
    "threads": "rpc_threads",
    "sigterm_to_gone_s": "rpc_sigterm_s",
}


def step_targets(samples: dict, summary: dict) -> list:
    """The RPC service issue's targets, interleaved: each <= 1.0x the eventlet backend."""
    import _targets

    return [
        _targets.ratio_result(
            "RPC service SIGTERM to every process gone <= 1.0x oslo.service eventlet's",
            _targets.paired_ratios(samples, "rpc_sigterm_s", "oslo-eventlet"),
            1.0,
        ),
        _targets.ratio_result(
            "RPC worker USS after load <= 1.0x oslo.service eventlet's",
            _targets.paired_ratios(samples, "rpc_uss_mib", "oslo-eventlet"),
            1.0,
        ),
    ]


def main() -> int:
    variants = [v for v in os.environ.get("BENCH_VARIANTS", "").split(",") if v] or None
    results = measure(variants=variants)
    print(format_table(results))
    for key, ratio, met in targets(results):
        print(f"{key}: ours / eventlet = {ratio:.2f}x ({'met' if met else 'NOT met'})")
    path = os.environ.get("BENCH_RPC_JSON")
    if path:
        pathlib.Path(path).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
