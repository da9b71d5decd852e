"""This package side by side with oslo.service's threading and eventlet backends.

Run: tox -e bench (or, with oslo.service 4.8.0, eventlet and matplotlib installed,
PYTHONPATH=. python benchmarks/bench_backends.py).

The scheduler-like service of scheduler_service.py runs, unchanged, on each variant
(_api.py), in fresh processes, alternating A B C per round. Each round and variant:

1. load: ProcessLauncher with 2 workers under steady load. Start to all workers
   serving; after LOAD_SECONDS, RSS/PSS/USS of each worker (/proc/<pid>/smaps_rollup);
   the workers' own looping-call lateness and stop() figures; SIGTERM to every
   process gone.
2. idle: the same service with nothing to do. Start to serving, SIGTERM to gone.
3. micro: scatter-gather per-task overhead (and the standard library's pool in the
   same process), looping-call stop() latency, threads left after 10000
   scatter-gather and 1000 looping-call cycles.

Writes doc/source/benchmark_results.md and doc/source/benchmark_chart.png, prints
the ratios and whether each target is met. Environment:
  BENCH_ROUNDS=N   rounds (default 5; 2 with BENCH_QUICK=1)
  BENCH_QUICK=1    short runs for development (5 s of load); docs are not written
                   unless BENCH_OUTPUT is set
  BENCH_OUTPUT=DIR where to write the results (default doc/source)
  BENCH_VARIANTS=a,b  run only these variants (development)
  BENCH_RAW=FILE   also dump every sample as JSON
"""

import contextlib
import json
import os
import pathlib
import platform
import select
import signal
import subprocess
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

import _report  # noqa: E402

VARIANTS = ("ours", "oslo-threading", "oslo-eventlet")
QUICK = os.environ.get("BENCH_QUICK", "") not in ("", "0")
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "2" if QUICK else "5"))
LOAD_SECONDS = 5.0 if QUICK else 20.0
IDLE_SECONDS = 1.0
WORKERS = 2
START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0
MICRO_TIMEOUT = 120.0


class RunFailed(Exception):
    pass


class Run:
    """One fresh variant process; its process group is always killed at the end."""

    def __init__(self, variant, mode, log_dir):
        self.variant = variant
        self.mode = mode
        self.log_path = pathlib.Path(log_dir) / f"{variant}-{mode}-{time.monotonic_ns()}.log"
        self.events = []
        self._buffer = b""
        self._read_fd = None
        self.proc = None
        self.started_at = None

    def __enter__(self):
        read_fd, write_fd = os.pipe()
        self._read_fd = read_fd
        env = dict(
            os.environ,
            BENCH_REPORT_FD=str(write_fd),
            BENCH_PROBE_SECONDS=str(min(10.0, LOAD_SECONDS - 1.0)),
            PYTHONUNBUFFERED="1",
        )
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
        with open(self.log_path, "wb") as log:
            self.started_at = time.monotonic()
            self.proc = subprocess.Popen(
                [sys.executable, str(HERE / "_variant.py"), self.variant, self.mode],
                cwd=str(REPO),
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                pass_fds=(write_fd,),
                start_new_session=True,
            )
        os.close(write_fd)
        return self

    def __exit__(self, *exc_info):
        # The master is its own process group leader (start_new_session); workers
        # inherit the group, so one killpg reaches everything that is left.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)
        os.close(self._read_fd)
        return False

    def _read(self, timeout):
        ready, _, _ = select.select([self._read_fd], [], [], max(0.0, timeout))
        if not ready:
            return False
        chunk = os.read(self._read_fd, 65536)
        if not chunk:
            return None  # every writer is gone
        self._buffer += chunk
        *lines, self._buffer = self._buffer.split(b"\n")
        self.events.extend(json.loads(line) for line in lines if line.strip())
        return True

    def wait_for(self, predicate, timeout, what):
        deadline = time.monotonic() + timeout
        while True:
            found = predicate(self.events)
            if found:
                return found
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._read(min(remaining, 0.5)) is None:
                if predicate(self.events):
                    return predicate(self.events)
                raise RunFailed(f"{self.variant} {self.mode}: no {what} within {timeout} s")

    def drain(self, seconds):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self._read(deadline - time.monotonic()) is None:
                return

    def of(self, event):
        return [e for e in self.events if e["event"] == event]

    def wait_serving(self):
        def all_serving(events):
            serving = [e for e in events if e["event"] == "serving"]
            return serving if len({e["pid"] for e in serving}) >= WORKERS else None

        serving = self.wait_for(all_serving, START_TIMEOUT, f"{WORKERS} serving workers")
        self.worker_pids = sorted({e["pid"] for e in serving})
        return max(e["t"] for e in serving) - self.started_at

    def sigterm_to_gone(self):
        """Seconds from SIGTERM to the master until the master and every worker exited."""
        pidfds = []
        for pid in [self.proc.pid, *self.worker_pids]:
            with contextlib.suppress(ProcessLookupError):
                pidfds.append(os.pidfd_open(pid))
        try:
            started = time.monotonic()
            os.kill(self.proc.pid, signal.SIGTERM)
            waiting = set(pidfds)
            deadline = started + STOP_TIMEOUT
            while waiting:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise RunFailed(
                        f"{self.variant} {self.mode}: still running {STOP_TIMEOUT} s after SIGTERM"
                    )
                ready, _, _ = select.select(list(waiting), [], [], remaining)
                waiting.difference_update(ready)
            gone = time.monotonic() - started
        finally:
            for fd in pidfds:
                os.close(fd)
        self.proc.wait(timeout=STOP_TIMEOUT)
        self.drain(0.5)
        return gone

    def tail(self, lines=20):
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""


def memory_of(pid):
    """RSS, PSS and USS in MiB from /proc/<pid>/smaps_rollup, and the thread count."""
    fields = {}
    with open(f"/proc/{pid}/smaps_rollup") as rollup:
        for line in rollup:
            parts = line.split()
            if len(parts) >= 3 and parts[1].isdigit():
                fields[parts[0].rstrip(":")] = int(parts[1])
    with open(f"/proc/{pid}/status") as status:
        threads = next(int(line.split()[1]) for line in status if line.startswith("Threads:"))
    mib = 1024.0
    return {
        "rss": fields["Rss"] / mib,
        "pss": fields["Pss"] / mib,
        "uss": (fields.get("Private_Clean", 0) + fields.get("Private_Dirty", 0)) / mib,
        "threads": threads,
    }


def run_load(variant, log_dir):
    with Run(variant, "load", log_dir) as run:
        start = run.wait_serving()
        run.drain(LOAD_SECONDS)
        memory = [memory_of(pid) for pid in run.worker_pids]
        master = memory_of(run.proc.pid)
        gone = run.sigterm_to_gone()
        looping = run.of("looping_call")
        served = sum(e.get("requests", 0) for e in run.of("stopping"))
        return {
            "start_s": start,
            "sigterm_load_s": gone,
            "rss_mib": sum(m["rss"] for m in memory) / len(memory),
            "pss_mib": sum(m["pss"] for m in memory) / len(memory),
            "uss_mib": sum(m["uss"] for m in memory) / len(memory),
            "worker_threads": max(m["threads"] for m in memory),
            "master_uss_mib": master["uss"],
            "requests_per_s": served / LOAD_SECONDS,
            "lateness_mean_ms": _mean([e["mean_lateness"] * 1e3 for e in looping]),
            "lateness_worst_ms": _max([e["worst_lateness"] * 1e3 for e in looping]),
            "drift_ms": _mean([e["drift"] * 1e3 for e in looping]),
            "stop_under_load_ms": _max([e["stop_seconds"] * 1e3 for e in looping]),
        }


def run_idle(variant, log_dir):
    with Run(variant, "idle", log_dir) as run:
        start = run.wait_serving()
        run.drain(IDLE_SECONDS)
        return {"start_idle_s": start, "sigterm_idle_s": run.sigterm_to_gone()}


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
            "leak_gather": micro["threads_after_gather_cycles"],
            "leak_looping": micro.get("threads_after_looping_cycles"),
            "stop_ms": None if not stops else max(stops) * 1e3,
        }


def _mean(values):
    return sum(values) / len(values) if values else None


def _max(values):
    return max(values) if values else None


def main():
    variants = tuple(
        v for v in os.environ.get("BENCH_VARIANTS", ",".join(VARIANTS)).split(",") if v
    )
    output = os.environ.get("BENCH_OUTPUT") or (None if QUICK else str(REPO / "doc" / "source"))
    load_before = _loadavg()
    print(
        f"Benchmark: {', '.join(variants)}; {ROUNDS} rounds; {WORKERS} workers; "
        f"{LOAD_SECONDS:.0f} s of load; {os.cpu_count()} CPUs; load average {load_before}",
        flush=True,
    )
    samples = {v: [] for v in variants}
    began = time.monotonic()
    steps = ROUNDS * len(variants)
    done = 0
    with tempfile.TemporaryDirectory(prefix="bench-backends-") as log_dir:
        for round_number in range(1, ROUNDS + 1):
            for variant in variants:
                sample = {}
                for name, step in (("load", run_load), ("idle", run_idle), ("micro", run_micro)):
                    print(
                        f"  [{done + 1}/{steps}] round {round_number} {variant}: {name}...",
                        end="",
                        flush=True,
                    )
                    try:
                        sample.update(step(variant, log_dir))
                    except Exception as exc:
                        print(" FAILED", flush=True)
                        logs = sorted(pathlib.Path(log_dir).glob(f"{variant}-{name}-*.log"))
                        tail = logs[-1].read_text(errors="replace")[-3000:] if logs else ""
                        raise SystemExit(
                            f"{variant} {name} failed: {exc}\n--- log tail ---\n{tail}"
                        )
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
    }
    if os.environ.get("BENCH_RAW"):
        pathlib.Path(os.environ["BENCH_RAW"]).write_text(
            json.dumps({"run": run_info, "samples": samples}, indent=1)
        )
    summary = _report.summarize(samples)
    print()
    print(_report.ratios_text(summary))
    print()
    print(_report.targets_text(summary))
    if output:
        out = pathlib.Path(output)
        out.mkdir(parents=True, exist_ok=True)
        (out / "benchmark_results.md").write_text(_report.markdown(summary, run_info))
        _report.chart(summary, out / "benchmark_chart.png")
        print(f"\nWrote {out / 'benchmark_results.md'} and {out / 'benchmark_chart.png'}")
    return 0


def _loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def _versions():
    from importlib import metadata

    versions = {}
    for dist in ("oslo.service", "eventlet", "cotyledon", "futurist", "oslo_threading_backend"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[dist] = metadata.version(dist)
    return versions


if __name__ == "__main__":
    sys.exit(main())
