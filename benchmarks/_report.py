"""Medians, ratios, targets, the markdown table and the chart of bench_backends.py."""

import statistics

import _sched_targets
import _targets

VARIANTS = ("ours", "oslo-threading", "oslo-eventlet")
LABELS = {
    "ours": "oslo_threading_backend",
    "oslo-threading": "oslo.service threading",
    "oslo-eventlet": "oslo.service eventlet",
}

# key, label, unit, decimals
METRICS = (
    ("uss_mib", "Worker USS after steady load", "MiB", 1),
    ("pss_mib", "Worker PSS after steady load", "MiB", 1),
    ("rss_mib", "Worker RSS after steady load", "MiB", 1),
    ("worker_threads", "Worker OS threads under load", "", 0),
    ("master_uss_mib", "Master USS", "MiB", 1),
    ("requests_per_s", "Requests served (both workers)", "/s", 0),
    *_sched_targets.METRICS,
    ("ready_s", "Start to READY=1 (idle run)", "s", 3),
    ("start_s", "Start to all workers serving (load run)", "s", 3),
    ("start_idle_s", "Start to all workers serving (idle run)", "s", 3),
    ("sigterm_idle_s", "SIGTERM to every process gone, idle", "s", 3),
    ("sigterm_load_s", "SIGTERM to every process gone, under load", "s", 3),
    ("gather_us", "Scatter-gather overhead per task", "µs", 1),
    ("stdlib_gather_us", "stdlib ThreadPoolExecutor, same process", "µs", 1),
    ("gather_vs_stdlib", "Scatter-gather / stdlib pool (pairs in one process)", "x", 2),
    ("lateness_mean_ms", "Looping call at 50 ms: mean lateness (under load)", "ms", 2),
    ("lateness_worst_ms", "Looping call at 50 ms: worst lateness (under load)", "ms", 2),
    ("drift_ms", "Looping call at 50 ms: drift (under load)", "ms", 1),
    ("stop_ms", "Looping call stop() until wait() returns, idle (worst of 3)", "ms", 2),
    ("stop_under_load_ms", "Looping call stop() until wait() returns, under load", "ms", 2),
    ("leak_gather", "Threads left after 10000 scatter-gather cycles", "", 0),
    ("leak_looping", "Threads left after 1000 looping-call cycles", "", 0),
)
METRIC_INFO = {key: (label, unit, decimals) for key, label, unit, decimals in METRICS}
# Rows without an ours/other ratio column.
_NO_RATIO = ("gather_vs_stdlib", "leak_gather", "leak_looping", "stdlib_gather_us")


def summarize(samples):
    """{variant: {metric: {"values", "median", "min", "max"}}} over the rounds."""
    summary = {}
    for variant, rounds in samples.items():
        per_metric = {}
        for key, *_ in METRICS:
            if key == "gather_vs_stdlib":
                values = [p for r in rounds for p in r.get("gather_pairs", ())]
            else:
                values = [r[key] for r in rounds if r.get(key) is not None]
            if values:
                per_metric[key] = {
                    "values": values,
                    "median": statistics.median(values),
                    "min": min(values),
                    "max": max(values),
                }
        summary[variant] = per_metric
    return summary


def median(summary, variant, key):
    return summary.get(variant, {}).get(key, {}).get("median")


def worst(summary, variant, key):
    return summary.get(variant, {}).get(key, {}).get("max")


def _fmt(value, decimals):
    return "n/a" if value is None else f"{value:.{decimals}f}"


def one_line(sample):
    """Progress line for one round of one variant."""
    parts = [
        f"USS {_fmt(sample.get('uss_mib'), 1)} MiB",
        f"sched. USS load/after/128 arenas {_fmt(sample.get('sched_uss_mib'), 1)}/"
        f"{_fmt(sample.get('sched_uss_after_mib'), 1)}/"
        f"{_fmt(sample.get('sched_a128_uss_mib'), 1)} MiB",
        f"sched. {_fmt(sample.get('sched_requests_per_s'), 1)}/s "
        f"p99 {_fmt(sample.get('sched_p99_ms'), 0)} ms",
        f"READY {_fmt(sample.get('ready_s'), 3)} s",
        f"SIGTERM idle/load/sched. {_fmt(sample.get('sigterm_idle_s'), 3)}/"
        f"{_fmt(sample.get('sigterm_load_s'), 3)}/{_fmt(sample.get('sched_sigterm_s'), 3)} s",
        f"gather {_fmt(sample.get('gather_us'), 1)} us/task",
    ]
    return ", ".join(parts)


def readme_text(samples, summary):
    """README.rst's paragraph of figures with this run's numbers, ready to paste."""
    import textwrap

    def r(key, other):
        value = ratio(samples, key, other)
        return "n/a" if value is None else f"{value:.2f}x"

    pairs = [p for s in samples.get("ours", []) for p in s.get("gather_pairs", ())]
    gather = f"{statistics.median(pairs):.2f}x" if pairs else "n/a"
    paragraph = (
        "Measured against oslo.service 4.8.0 on the same machine (``tox -e bench``, "
        "``doc/source/benchmark_results.md``): a worker's private memory (USS) is "
        f"{r('uss_mib', 'oslo-threading')} oslo.service threading's and "
        f"{r('uss_mib', 'oslo-eventlet')} its eventlet backend's (RSS "
        f"{r('rss_mib', 'oslo-eventlet')}), a scheduler's worker under load (oslo.messaging's "
        f"RPC server, a 40-thread futurist cell pool, oslo.db sessions on sqlite) "
        f"{r('sched_uss_mib', 'oslo-eventlet')} during and "
        f"{r('sched_uss_after_mib', 'oslo-eventlet')} after, "
        f"start to READY=1 {r('ready_s', 'oslo-threading')} oslo.service threading's, "
        f"SIGTERM to every process gone {r('sigterm_idle_s', 'oslo-eventlet')} the eventlet "
        f"backend's ({r('sched_sigterm_s', 'oslo-eventlet')} under the scheduler-shaped "
        f"load), scatter-gather overhead {gather} the standard library's pool, and a "
        "fixed-interval looping call does not drift."
    )
    return "README.rst paragraph (this run's figures):\n\n" + textwrap.fill(
        paragraph, 79, break_on_hyphens=False
    )


def ratio(samples, key, against, key_against=None):
    """Median of the per-round ratios ours / against (the rounds interleave them)."""
    ratios = _targets.paired_ratios(samples, key, against, key_against)
    return statistics.median(ratios) if ratios else None


_STORED = object()


def targets(samples, summary, baseline=_STORED):
    """[_targets.Result] for every target, in the order printed; see _targets.

    ``baseline``: what the scheduler's speed targets compare with (default: the
    stored benchmarks/scheduler_baseline.json; None: not measured)."""
    rows = []

    def paired(text, key, against, limit, key_against=None, strict=False):
        ratios = _targets.paired_ratios(samples, key, against, key_against)
        rows.append(_targets.ratio_result(text, ratios, limit, strict))

    paired(
        "SIGTERM to every process gone (idle) <= 1.0x oslo.service eventlet's",
        "sigterm_idle_s",
        "oslo-eventlet",
        1.0,
    )
    paired(
        "SIGTERM to every process gone (under load) <= 1.0x oslo.service eventlet's",
        "sigterm_load_s",
        "oslo-eventlet",
        1.0,
    )
    paired("Start to READY=1 <= 0.7x oslo.service threading's", "ready_s", "oslo-threading", 0.7)
    # The scheduler step's (bench_sched.py): memory against eventlet, at the default
    # arena cap and at MALLOC_ARENA_MAX=128; speed against ours before the change.
    rows.extend(
        _sched_targets.targets(
            samples, _sched_targets.load_baseline() if baseline is _STORED else baseline
        )
    )
    paired("Worker RSS <= 0.8x oslo.service eventlet's", "rss_mib", "oslo-eventlet", 0.8)
    paired("Worker USS <= 0.9x oslo.service threading's", "uss_mib", "oslo-threading", 0.9)
    # Each micro run interleaves our scatter-gather and the stdlib pool in one
    # process: every pair of repeats is one ratio; all pairs of all rounds count.
    pairs = [r for sample in samples.get("ours", []) for r in sample.get("gather_pairs", ())]
    rows.append(
        _targets.ratio_result("Scatter-gather overhead <= 1.15x the stdlib pool", pairs, 1.15)
    )
    paired(
        "Scatter-gather overhead < futurist's green pool",
        "gather_us",
        "oslo-eventlet",
        1.0,
        strict=True,
    )
    stops = [worst(summary, "ours", k) for k in ("stop_ms", "stop_under_load_ms")]
    stops = [s for s in stops if s is not None]
    rows.append(
        _targets.value_result(
            "Looping call stop() < 50 ms (worst sample)",
            max(stops) if stops else None,
            lambda v: v < 50,
            "{:.2f} ms",
        )
    )
    leaks = [worst(summary, "ours", k) for k in ("leak_looping", "leak_gather")]
    text = "No leaked threads (1000 looping calls, 10000 scatter-gathers)"
    if any(v is None for v in leaks):
        rows.append(_targets.Result(text, "n/a", None))
    else:
        rows.append(
            _targets.Result(
                text,
                f"{max(leaks[0], 0):.0f} / {max(leaks[1], 0):.0f} threads",
                max(leaks) <= 0,
            )
        )
    for extra in _EXTRA_TARGETS:
        rows.extend(extra(samples, summary))
    return rows


# Other benchmarks (e.g. bench_rpc.py) join the run through register_figures().
_EXTRA_TARGETS = []


def register_figures(metrics=(), targets_fn=None):
    """Add rows to the results table and, optionally, targets judged on the samples.

    ``metrics``: (key, label, unit, decimals) tuples of keys the extra step puts in
    each sample; ``targets_fn(samples, summary) -> [_targets.Result]``.
    """
    global METRICS, METRIC_INFO
    METRICS = METRICS + tuple(metrics)
    METRIC_INFO = {key: (label, unit, decimals) for key, label, unit, decimals in METRICS}
    if targets_fn is not None:
        _EXTRA_TARGETS.append(targets_fn)


def ratios_text(samples):
    lines = ["Ratios (median of per-round ratios, oslo_threading_backend / other):"]
    for key, label, _unit, _ in METRICS:
        if key in _NO_RATIO:
            continue
        parts = []
        for other in ("oslo-threading", "oslo-eventlet"):
            r = ratio(samples, key, other)
            if r is not None:
                parts.append(f"{r:.2f}x {LABELS[other]}")
        if parts:
            lines.append(f"  {label}: " + ", ".join(parts))
    return "\n".join(lines)


def _cell(summary, variant, key, decimals):
    entry = summary.get(variant, {}).get(key)
    if entry is None:
        return "n/a"
    if len(entry["values"]) == 1 or entry["min"] == entry["max"]:
        return _fmt(entry["median"], decimals)
    return (
        f"{_fmt(entry['median'], decimals)} "
        f"({_fmt(entry['min'], decimals)}–{_fmt(entry['max'], decimals)})"
    )


def _plural(n, word):
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def markdown(samples, summary, results, run):
    variants = [v for v in VARIANTS if v in summary]
    others = [v for v in ("oslo-threading", "oslo-eventlet") if v in summary]
    header = ["Figure", *(LABELS[v] for v in variants), *(f"ours / {LABELS[o]}" for o in others)]
    lines = [
        "<!-- Generated by benchmarks/bench_backends.py (tox -e bench); do not edit. -->",
        "",
        f"Run of {run['date']}: {_plural(run['rounds'], 'round')} (A B C alternating), "
        f"{run['workers']} "
        f"workers per service, {run['load_seconds']:.0f} s of steady load "
        f"({run.get('sched_load_seconds', 0):.0f} s in the scheduler step), {run['cpus']} CPUs, "
        f"Python {run['python']}, load average {run['load_before']} before and "
        f"{run['load_after']} after, {run['minutes']:.1f} minutes.",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in run["versions"].items()) + ".",
        "",
        "Median (min–max) over the rounds; ratios are medians of per-round ratios.",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|",
    ]
    for key, label, unit, decimals in METRICS:
        if not any(key in summary.get(v, {}) for v in variants):
            continue
        name = f"{label} ({unit})" if unit else label
        cells = [_cell(summary, v, key, decimals) for v in variants]
        for other in others:
            r = None if key in _NO_RATIO else ratio(samples, key, other)
            cells.append("" if r is None else f"{r:.2f}x")
        lines.append("| " + " | ".join([name, *cells]) + " |")
    lines += [
        "",
        "| Target | Measured | Per-round spread | Status |",
        "|---|---:|---:|---|",
    ]
    for r in results:
        lines.append(f"| {r.text} | {r.measured} | {r.spread} | {r.status} |")
    return "\n".join(lines) + "\n"


def chart(summary, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    variants = [v for v in VARIANTS if v in summary]
    colors = {"ours": "#2a7ab0", "oslo-threading": "#e08a2c", "oslo-eventlet": "#7a7a7a"}
    panels = (
        (
            "Worker memory after load (MiB)",
            (("rss_mib", "RSS"), ("pss_mib", "PSS"), ("uss_mib", "USS")),
        ),
        (
            "Scheduler worker USS (MiB)",
            (
                ("sched_uss_idle_mib", "idle"),
                ("sched_uss_mib", "load"),
                ("sched_uss_after_mib", "after"),
                ("sched_a128_uss_mib", "load, 128 arenas"),
            ),
        ),
        (
            "Start (s)",
            (("ready_s", "READY=1"), ("start_idle_s", "serving"), ("start_s", "load")),
        ),
        (
            "SIGTERM to every process gone (s)",
            (
                ("sigterm_idle_s", "idle"),
                ("sigterm_load_s", "load"),
                ("sched_sigterm_s", "sched."),
            ),
        ),
        (
            "Scatter-gather overhead (µs/task)",
            (("gather_us", "own"), ("stdlib_gather_us", "stdlib")),
        ),
        (
            "Looping call 50 ms lateness (ms)",
            (("lateness_mean_ms", "mean"), ("lateness_worst_ms", "worst")),
        ),
    )
    fig, axes = plt.subplots(2, 3, figsize=(14, 7.5))
    width = 0.8 / len(variants)
    for ax, (title, groups) in zip(axes.flat, panels, strict=True):
        for i, variant in enumerate(variants):
            xs, heights, low, high = [], [], [], []
            for g, (key, _) in enumerate(groups):
                entry = summary[variant].get(key)
                if entry is None:
                    continue
                xs.append(g + (i - (len(variants) - 1) / 2) * width)
                heights.append(entry["median"])
                low.append(entry["median"] - entry["min"])
                high.append(entry["max"] - entry["median"])
            if xs:
                ax.bar(
                    xs,
                    heights,
                    width,
                    yerr=[low, high],
                    capsize=3,
                    color=colors[variant],
                    label=LABELS[variant],
                )
        ax.set_xticks(range(len(groups)))
        ax.set_xticklabels([name for _, name in groups])
        ax.set_title(title, fontsize=10)
        ax.grid(axis="y", alpha=0.3)
    axes.flat[0].legend(fontsize=8)
    fig.suptitle("oslo_threading_backend vs oslo.service 4.8.0 (median, min–max)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
