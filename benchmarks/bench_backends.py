"""This package side by side with oslo.service's threading and eventlet backends.

Run: tox -e bench [-- --update-docs] (or, with oslo.service 4.8.0, eventlet and
matplotlib installed, PYTHONPATH=. python benchmarks/bench_backends.py).

The scheduler-like service of scheduler_service.py runs, unchanged, on each variant
(_api.py), in fresh processes, alternating A B C per round. Each round and variant
runs the STEPS below (each a fresh process):

1. load: ProcessLauncher with 2 workers under steady load. Start to all workers
   serving; after LOAD_SECONDS (plus the round's phase of the 1 s host-state
   refresh: (k-1)/N of it in round k of N, see _stop_phase), RSS/PSS/USS of
   each worker (/proc/<pid>/smaps_rollup);
   the workers' own looping-call lateness and stop() figures; SIGTERM to every
   process gone (the median of this stop and EXTRA_STOPS fresh runs' stops,
   at phases that, over all rounds, cover the refresh interval evenly).
2. idle: the same service with nothing to do. Start to READY=1 (and serving),
   SIGTERM to gone.
3. sched: nova-scheduler's shape, as the field measured it (bench_sched.py,
   sched_service.py): oslo.messaging's RPC server with its default executor on
   the run's RabbitMQ node, a futurist cell pool of 40, oslo.db sessions on
   sqlite cell files, 4 clients calling select_destinations for
   BENCH_SCHED_LOAD_SECONDS; ours under oslo-threading-exec. Worker USS idle,
   during and after the load, threads, throughput, median and p99 latency,
   SIGTERM under load; ours again with MALLOC_ARENA_MAX=128.
4. micro: scatter-gather per-task overhead interleaved with the standard library's
   pool in the same process, looping-call stop() latency, threads left after 10000
   scatter-gather and 1000 looping-call cycles.

Then (_growth.py) how our cost grows with 1-16 workers and with the pool size.
--only STEP[,STEP] runs only those steps (no growth runs), e.g. --only sched;
--save-baseline stores the scheduler's speed as "before the change"
(benchmarks/scheduler_baseline.json) for later runs' speed targets.

Prints every figure, the ratios and each target with its measured ratio; exits 1
when a target is missed (or, on a full run, not measured). Results go to
.bench-results/ (git-ignored); --update-docs also writes doc/source/benchmark_results.md,
doc/source/benchmark_growth.md and doc/source/benchmark_chart.png. Environment:
  BENCH_ROUNDS=N          rounds (default 5; 1 with BENCH_QUICK=1)
  BENCH_LOAD_SECONDS=S    seconds of load per load/sched run (default 8; 4 quick;
                          the growth runs by pool size load for half as long)
  BENCH_GROWTH_ROUNDS=N   rounds of the growth runs (default 2; 1 quick; 0 skips them)
  BENCH_EXTRA_STOPS=N     extra SIGTERM-under-load samples per round and step, each a
                          fresh run with 3 s of load (default 2; 0 quick)
  BENCH_QUICK=1           short runs for development
  BENCH_VARIANTS=a,b      run only these variants (targets not measured do not fail)
  BENCH_RAW=FILE          also dump every sample as JSON
  BENCH_SCHED_LOAD_SECONDS=S  the scheduler step's load (default 40; 10 quick)
  BENCH_SCHED_ROUNDS=N    rounds that run the scheduler step (default 3; the first N)
  BENCH_SCHED_ARENA=0     skip the scheduler step's MALLOC_ARENA_MAX=128 run of ours
  BENCH_SCHED_OURS=launcher  run ours' scheduler under our ProcessLauncher, not exec
  BENCH_SCHED_BEFORE=X    "ours before the change" for the speed targets: a directory,
                          a git revision, or 0 (default: the baseline's commit; _before.py)
  BENCH_RPC=0             skip the RPC service step (bench_rpc.py; it needs
                          rabbitmq-server installed and starts a broker of its own)
"""

import argparse
import contextlib
import json
import os
import pathlib
import platform
import statistics
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

from _api import REFRESH_INTERVAL  # noqa: E402
import _before  # noqa: E402
import _growth  # noqa: E402
import _report  # noqa: E402
from _runs import Run  # noqa: E402
from _runs import RunFailed  # noqa: E402
from _runs import memory_of  # noqa: E402
import _sched_targets  # noqa: E402
import _targets  # noqa: E402
import bench_rpc  # noqa: E402
import bench_sched  # noqa: E402

VARIANTS = ("ours", "oslo-threading", "oslo-eventlet")
QUICK = os.environ.get("BENCH_QUICK", "") not in ("", "0")
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "1" if QUICK else "5"))
LOAD_SECONDS = float(os.environ.get("BENCH_LOAD_SECONDS", "4" if QUICK else "8"))
GROWTH_ROUNDS = int(os.environ.get("BENCH_GROWTH_ROUNDS", "1" if QUICK else "2"))
# A stop under load is one sample of a noisy figure (a round's ratio spread 0.5-2x
# on a 2-core machine): each round adds this many stops of fresh short runs.
EXTRA_STOPS = int(os.environ.get("BENCH_EXTRA_STOPS", "0" if QUICK else "2"))
STOP_LOAD_SECONDS = 3.0
IDLE_SECONDS = 1.0
WORKERS = 2
SCHED_POOL = 40  # the seed's cell_worker_thread_pool_size (nova's cpu*5 default)
MICRO_TIMEOUT = 120.0
RESULTS_DIR = REPO / ".bench-results"
DOCS_DIR = REPO / "doc" / "source"


# Where in the service's 1 s host-state refresh the load and sched runs end (and
# their memory and SIGTERM are measured): round k of N at (k-1)/N of the interval.
# Load for a whole number of seconds would always stop the service as a refresh
# starts (it runs every second from the start): a graceful stop then waits for
# that refresh, a kill does not, and memory is read with 5 MB of records half built.
_stop_phase = 0.0


def _stop_phase_for(round_number):
    return (round_number - 1) % ROUNDS / ROUNDS * REFRESH_INTERVAL


def _extra_phases():
    """This round's extra stops: with its main one they split its share of the
    interval evenly, so all rounds' stops cover the refresh interval evenly."""
    step = REFRESH_INTERVAL / (ROUNDS * (1 + EXTRA_STOPS))
    return [_stop_phase + j * step for j in range(1, 1 + EXTRA_STOPS)]


def _probe_seconds(load_seconds=None):
    return max(1.0, min(10.0, (LOAD_SECONDS if load_seconds is None else load_seconds) - 1.0))


def _stops_under_load(variant, mode, log_dir, main_stop, env=None):
    """The round's SIGTERM-to-gone figure: the median of the main run's stop and
    EXTRA_STOPS fresh runs' (STOP_LOAD_SECONDS of load, then SIGTERM)."""
    stops = [main_stop]
    for phase in _extra_phases():
        probe = _probe_seconds(STOP_LOAD_SECONDS)
        with Run(variant, mode, log_dir, WORKERS, probe, env=env) as run:
            run.wait_serving()
            run.drain(STOP_LOAD_SECONDS + phase)
            stops.append(run.sigterm_to_gone())
    return statistics.median(stops)


def run_load(variant, log_dir):
    with Run(variant, "load", log_dir, WORKERS, _probe_seconds()) as run:
        start = run.wait_serving()
        run.drain(LOAD_SECONDS + _stop_phase)
        memory = [memory_of(pid) for pid in run.worker_pids]
        master = memory_of(run.proc.pid)
        gone = run.sigterm_to_gone()
        looping = run.of("looping_call")
        served = sum(e.get("requests", 0) for e in run.of("stopping"))
    return {
        "start_s": start,
        "sigterm_load_s": _stops_under_load(variant, "load", log_dir, gone),
        "rss_mib": _mean([m["rss"] for m in memory]),
        "pss_mib": _mean([m["pss"] for m in memory]),
        "uss_mib": _mean([m["uss"] for m in memory]),
        "worker_threads": max(m["threads"] for m in memory),
        "master_uss_mib": master["uss"],
        "requests_per_s": served / (LOAD_SECONDS + _stop_phase),
        "lateness_mean_ms": _mean([e["mean_lateness"] * 1e3 for e in looping]),
        "lateness_worst_ms": _max([e["worst_lateness"] * 1e3 for e in looping]),
        "drift_ms": _mean([e["drift"] * 1e3 for e in looping]),
        "stop_under_load_ms": _max([e["stop_seconds"] * 1e3 for e in looping]),
    }


def run_idle(variant, log_dir):
    with Run(variant, "idle", log_dir, WORKERS) as run:
        ready = run.wait_ready()
        start = max(e["t"] for e in run.of("serving")) - run.started_at
        run.drain(IDLE_SECONDS)
        return {"ready_s": ready, "start_idle_s": start, "sigterm_idle_s": run.sigterm_to_gone()}


def run_micro(variant, log_dir):
    with Run(variant, "micro", log_dir) as run:
        (micro,) = run.wait_for(
            lambda ev: [e for e in ev if e["event"] == "micro"], MICRO_TIMEOUT, "micro result"
        )
        run.proc.wait(timeout=10)
        stops = micro.get("stop_seconds")
        return {
            "gather_us": micro["gather_us_per_task"],
            "stdlib_gather_us": micro.get("stdlib_gather_us_per_task"),
            "gather_pairs": micro.get("gather_pairs", []),
            "leak_gather": micro["threads_after_gather_cycles"],
            "leak_looping": micro.get("threads_after_looping_cycles"),
            "stop_ms": None if not stops else max(stops) * 1e3,
        }


# What each round runs for each variant: (name, step(variant, log_dir) -> {key: value}).
# Another benchmark joins by appending its step here and giving its table rows and
# targets to _report.register_figures(); e.g. for bench_rpc.py:
#     STEPS.append(("rpc", bench_rpc.run_rpc))
#     _report.register_figures(bench_rpc.METRICS, bench_rpc.step_targets)
STEPS = [
    ("load", run_load),
    ("idle", run_idle),
    ("sched", bench_sched.run_sched),
    ("micro", run_micro),
]
if os.environ.get("BENCH_RPC", "1") != "0":
    STEPS.append(("rpc", bench_rpc.run_rpc))
    _report.register_figures(bench_rpc.METRICS, bench_rpc.step_targets)


def _mean(values):
    return sum(values) / len(values) if values else None


def _max(values):
    return max(values) if values else None


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="bench_backends.py",
        description="oslo_threading_backend against oslo.service's threading and "
        "eventlet backends; exits 1 when a target is missed.",
    )
    parser.add_argument(
        "--update-docs",
        action="store_true",
        help="also write the tables and the chart into doc/source (tracked files)",
    )
    parser.add_argument(
        "--output",
        type=pathlib.Path,
        default=RESULTS_DIR,
        help="where the results go (default: .bench-results/, git-ignored)",
    )
    parser.add_argument(
        "--only",
        metavar="STEP[,STEP]",
        type=_step_names,
        help=f"run only these steps ({', '.join(_all_step_names())}) and no growth runs; "
        "targets they do not measure do not fail the run (e.g. --only sched)",
    )
    parser.add_argument(
        "--save-baseline",
        action="store_true",
        help="store this run's scheduler throughput and p99 (ours and eventlet's) in "
        f"{_sched_targets.BASELINE_PATH.relative_to(REPO)}: the 'before the change' "
        "that later runs' speed targets compare with",
    )
    return parser.parse_args(argv)


def _all_step_names():
    return [name for name, _step in STEPS]


def _step_names(value):
    names = [n for n in value.split(",") if n]
    unknown = sorted(set(names) - set(_all_step_names()))
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown step {', '.join(unknown) or repr(value)}; "
            f"expected one or more of {', '.join(_all_step_names())}, comma-separated"
        )
    return names


def run_rounds(variants, log_dir):
    global _stop_phase
    samples = {v: [] for v in variants}
    began = time.monotonic()
    steps = ROUNDS * len(variants)
    done = 0
    for round_number in range(1, ROUNDS + 1):
        _stop_phase = _stop_phase_for(round_number)
        for variant in variants:
            sample = {}
            for name, step in STEPS:
                print(
                    f"  [{done + 1}/{steps}] round {round_number} {variant}: {name}...",
                    end="",
                    flush=True,
                )
                try:
                    sample.update(step(variant, log_dir))
                except (RunFailed, OSError, KeyError, ValueError) as exc:
                    print(" FAILED", flush=True)
                    raise SystemExit(_failure(variant, name, exc, log_dir))
                print(" done", flush=True)
            samples[variant].append(sample)
            done += 1
            elapsed = time.monotonic() - began
            left = elapsed / done * (steps - done)
            print(
                f"[{done}/{steps}] round {round_number} {variant}: {_report.one_line(sample)}"
                f"  ({elapsed / 60:.1f} min elapsed, ~{left / 60:.1f} min left)",
                flush=True,
            )
    return samples


def _failure(variant, name, exc, log_dir):
    logs = sorted(pathlib.Path(log_dir).glob(f"{variant}-{name}-*.log"))
    tail = logs[-1].read_text(errors="replace")[-3000:] if logs else ""
    return f"{variant} {name} failed: {exc}\n--- log tail ---\n{tail}"


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    variants = tuple(
        v for v in os.environ.get("BENCH_VARIANTS", ",".join(VARIANTS)).split(",") if v
    )
    if args.only:
        STEPS[:] = [(name, step) for name, step in STEPS if name in args.only]
    if any(name in ("rpc", "sched") for name, _step in STEPS):
        missing = bench_rpc.broker_missing()
        if missing:
            raise SystemExit(f"bench_backends.py: {missing}")
    baseline = _sched_targets.load_baseline()
    if any(name == "sched" for name, _step in STEPS):
        why = bench_sched.prepare(baseline, args.save_baseline)
        print(f"Scheduler step, speed against ours before the change: {why}", flush=True)
    load_before = _loadavg()
    print(
        f"Benchmark: {', '.join(variants)}; {ROUNDS} rounds; {WORKERS} workers; "
        f"{LOAD_SECONDS:.0f} s of load ({bench_sched.LOAD_SECONDS:.0f} s in the scheduler "
        f"step); {os.cpu_count()} CPUs; load average {load_before}",
        flush=True,
    )
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-backends-") as log_dir:
        samples = run_rounds(variants, log_dir)
        growth = None
        if GROWTH_ROUNDS > 0 and "ours" in variants and not args.only:
            growth = _growth.run_all(GROWTH_ROUNDS, max(3.0, LOAD_SECONDS / 2), log_dir)
    run_info = {
        "rounds": ROUNDS,
        "workers": WORKERS,
        "load_seconds": LOAD_SECONDS,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "load_before": load_before,
        "load_after": _loadavg(),
        "minutes": (time.monotonic() - began) / 60,
        "versions": _versions(),
        "date": time.strftime("%Y-%m-%d"),
        "commit": _commit(),
        "package_commit": _before.package_commit(),
        "steps": _all_step_names(),
        "sched_load_seconds": bench_sched.LOAD_SECONDS,
    }
    summary = _report.summarize(samples)
    if args.save_baseline:
        baseline = _sched_targets.baseline_of(samples, run_info)
        _sched_targets.BASELINE_PATH.write_text(json.dumps(baseline, indent=1) + "\n")
        print(f"Wrote the scheduler's speed baseline: {_sched_targets.BASELINE_PATH}")
    if baseline is not None:
        baseline = dict(baseline, package_unchanged=bench_sched.BEFORE["unchanged"])
    results = _report.targets(samples, summary, baseline)
    print()
    print(_report.ratios_text(samples))
    if growth is not None:
        print()
        print(_growth.text(growth))
    print()
    print(_report.readme_text(samples, summary))
    print()
    print(_targets.text(results))
    out = args.output
    out.mkdir(parents=True, exist_ok=True)
    (out / "raw.json").write_text(
        json.dumps(
            {
                "run": run_info,
                "samples": samples,
                "growth": growth,
                "scheduler_baseline": baseline,
            },
            indent=1,
        )
    )
    if os.environ.get("BENCH_RAW"):
        pathlib.Path(os.environ["BENCH_RAW"]).write_text((out / "raw.json").read_text())
    destinations = [out] + ([DOCS_DIR] if args.update_docs else [])
    for where in destinations:
        written = _write(where, samples, summary, results, growth, run_info)
        print(f"\nWrote {', '.join(str(p) for p in written)}")
    # A subset of the variants leaves some targets unmeasured; only a full run must
    # measure them all.
    status = _targets.exit_status(
        results, require_all=set(variants) == set(VARIANTS) and not args.only
    )
    if status:
        print("\nA target was missed (or not measured): exit status 1")
    return status


def _write(where, samples, summary, results, growth, run_info):
    where.mkdir(parents=True, exist_ok=True)
    written = [where / "benchmark_results.md", where / "benchmark_chart.png"]
    written[0].write_text(_report.markdown(samples, summary, results, run_info))
    _report.chart(summary, written[1])
    if growth is not None:
        written.append(where / "benchmark_growth.md")
        written[-1].write_text(_growth.markdown(growth, run_info))
        written.append(where / "benchmark_growth.png")
        _growth.chart(growth, written[-1])
    return written


def _loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def _commit():
    import subprocess

    try:
        return subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def _versions():
    from importlib import metadata

    versions = {}
    dists = ("oslo.service", "eventlet", "cotyledon", "futurist", "oslo.messaging", "oslo.db")
    for dist in (*dists, "SQLAlchemy", "oslo_threading_backend"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[dist] = metadata.version(dist)
    return versions


if __name__ == "__main__":
    sys.exit(main())
