"""The scheduler step's rows and targets, and the baseline its speed targets compare with.

Pure functions of the samples (bench_sched.py measures them), so that
tests/unit/test_bench_targets.py can prove each target can miss.

Memory: worker USS during and after the load <= 1.0x the eventlet backend's, at
the machine's default arena cap and at ``MALLOC_ARENA_MAX=128`` (ours only; the
eventlet worker runs on one OS thread, one arena, whatever the cap). Speed: the
throughput and p99 latency of the same load against *ours before the change*,
stored by ``bench_backends.py --only sched --save-baseline`` in
``benchmarks/scheduler_baseline.json``, with the package's commit. When the
package differs from that commit, ours runs once more per round from it
(_before.py) and the targets use the per-round ratios ours / ours before.
Otherwise the stored figures: ours/eventlet of this run against ours/eventlet
of the baseline's (each a median of per-round ratios), the eventlet backend
being the yardstick of how busy the machine was (a rough one: under heavy
contention a single-threaded worker loses more CPU than a threaded one).
"""

from __future__ import annotations

import json
import pathlib
import statistics

import _targets

BASELINE_PATH = pathlib.Path(__file__).resolve().parent / "scheduler_baseline.json"
SPEED_KEYS = ("sched_requests_per_s", "sched_p99_ms")
EVENTLET = "oslo-eventlet"

#: Rows of bench_backends' results table: (key, label, unit, decimals).
METRICS = (
    ("sched_uss_idle_mib", "Scheduler worker USS idle, before load", "MiB", 1),
    ("sched_uss_mib", "Scheduler worker USS during load", "MiB", 1),
    ("sched_uss_after_mib", "Scheduler worker USS after load", "MiB", 1),
    ("sched_rss_mib", "Scheduler worker RSS during load", "MiB", 1),
    ("sched_threads", "Scheduler worker OS threads during load", "", 0),
    ("sched_threads_after", "Scheduler worker OS threads after load", "", 0),
    ("sched_requests_per_s", "Scheduler select_destinations calls answered (4 clients)", "/s", 1),
    ("sched_median_ms", "Scheduler select_destinations latency, median", "ms", 1),
    ("sched_p99_ms", "Scheduler select_destinations latency, p99", "ms", 1),
    ("sched_sigterm_s", "Scheduler SIGTERM under load to every process gone", "s", 3),
    ("sched_stop_lost_calls", "Scheduler calls sent before SIGTERM, never answered", "", 0),
    ("sched_a128_uss_mib", "Scheduler worker USS during load, MALLOC_ARENA_MAX=128", "MiB", 1),
    ("sched_a128_uss_after_mib", "Scheduler worker USS after load, 128 arenas", "MiB", 1),
    ("sched_a128_threads", "Scheduler worker threads during load, MALLOC_ARENA_MAX=128", "", 0),
    ("sched_a128_requests_per_s", "Scheduler calls answered, MALLOC_ARENA_MAX=128", "/s", 1),
    ("sched_a128_p99_ms", "Scheduler latency p99, MALLOC_ARENA_MAX=128", "ms", 1),
    ("sched_before_uss_mib", "Scheduler worker USS during load, ours before", "MiB", 1),
    ("sched_before_uss_after_mib", "Scheduler worker USS after load, ours before", "MiB", 1),
    ("sched_before_threads", "Scheduler worker threads during load, ours before", "", 0),
    ("sched_before_requests_per_s", "Scheduler calls answered, ours before", "/s", 1),
    ("sched_before_p99_ms", "Scheduler latency p99, ours before", "ms", 1),
)


def _median_of(samples: dict, variant: str, key: str) -> float | None:
    values = [s[key] for s in samples.get(variant, []) if s.get(key) is not None]
    return statistics.median(values) if values else None


def _relative(samples: dict, key: str) -> float | None:
    ratios = _targets.paired_ratios(samples, key, EVENTLET)
    return statistics.median(ratios) if ratios else None


def baseline_of(samples: dict, run_info: dict) -> dict:
    """What --save-baseline stores: ours' speed, the eventlet backend's, and their ratio."""
    found = {key: value for key, value in run_info.items() if key != "versions"}
    for variant in ("ours", EVENTLET):
        found[variant] = {key: _median_of(samples, variant, key) for key in SPEED_KEYS}
    found["ours_vs_eventlet"] = {key: _relative(samples, key) for key in SPEED_KEYS}
    return found


def load_baseline(path: pathlib.Path = BASELINE_PATH) -> dict | None:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None


def against_baseline(samples: dict, baseline: dict | None, key: str) -> tuple[float, str] | None:
    """(ours now / ours before, how): eventlet-relative when both runs measured it."""
    if not baseline:
        return None
    now = _relative(samples, key)
    before = (baseline.get("ours_vs_eventlet") or {}).get(key)
    if now is not None and before:
        return now / before, "relative to eventlet's"
    now = _median_of(samples, "ours", key)
    before = (baseline.get("ours") or {}).get(key)
    if now is not None and before:
        return now / before, "absolute"
    return None


def before_in_run(samples: dict, key: str) -> list[float]:
    """ours / ours before, round by round, when the run measured both (BENCH_SCHED_BEFORE)."""
    ratios = []
    for sample in samples.get("ours", []):
        now, before = sample.get(key), sample.get(f"sched_before_{key[len('sched_') :]}")
        if now is not None and before:
            ratios.append(now / before)
    return ratios


def _speed(samples, baseline, key, text, limit, higher_is_better):
    ratios = before_in_run(samples, key)
    if ratios:
        value = statistics.median(ratios)
        how = "ours before in the same rounds"
        if len(ratios) > 1:
            how += f", {min(ratios):.2f}-{max(ratios):.2f}"
    elif baseline and baseline.get("package_unchanged"):
        # The package is the baseline's own: this run measured no change of ours.
        return _targets.Result(text, "1.00x", True, "the package is the baseline's")
    else:
        found = against_baseline(samples, baseline, key)
        if found is None:
            return _targets.Result(text, "n/a", None)
        value, how = found
        how += f", baseline {baseline.get('date', '?')} at load {baseline.get('load_before')}"
    met = value >= limit if higher_is_better else value <= limit
    return _targets.Result(text, f"{value:.2f}x", met, how)


def targets(samples: dict, baseline: dict | None) -> list[_targets.Result]:
    def paired(text, key, limit, key_against=None):
        ratios = _targets.paired_ratios(samples, key, EVENTLET, key_against)
        return _targets.ratio_result(text, ratios, limit)

    return [
        paired("Scheduler worker USS during load <= 1.0x oslo.service eventlet's",
               "sched_uss_mib", 1.0),
        paired("Scheduler worker USS after load <= 1.0x oslo.service eventlet's",
               "sched_uss_after_mib", 1.0),
        paired("Scheduler worker USS during load, MALLOC_ARENA_MAX=128, <= 1.0x eventlet's",
               "sched_a128_uss_mib", 1.0, "sched_uss_mib"),
        paired("Scheduler worker USS after load, MALLOC_ARENA_MAX=128, <= 1.0x eventlet's",
               "sched_a128_uss_after_mib", 1.0, "sched_uss_after_mib"),
        paired("Scheduler SIGTERM under load <= 1.0x oslo.service eventlet's",
               "sched_sigterm_s", 1.0),
        _speed(samples, baseline, "sched_requests_per_s",
               "Scheduler throughput >= 0.95x ours before the change", 0.95, True),
        _speed(samples, baseline, "sched_p99_ms",
               "Scheduler latency p99 <= 1.1x ours before the change", 1.1, False),
    ]  # fmt: skip
