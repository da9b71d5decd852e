"""Medians, ratios, targets, the markdown table and the chart of bench_backends.py."""

import statistics

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
    ("start_s", "Start to all workers serving (load run)", "s", 3),
    ("start_idle_s", "Start to all workers serving (idle run)", "s", 3),
    ("sigterm_idle_s", "SIGTERM to every process gone, idle", "s", 3),
    ("sigterm_load_s", "SIGTERM to every process gone, under load", "s", 3),
    ("gather_us", "Scatter-gather overhead per task", "µs", 1),
    ("stdlib_gather_us", "stdlib ThreadPoolExecutor, same process", "µs", 1),
    ("gather_vs_stdlib", "Scatter-gather / stdlib pool (same process)", "x", 2),
    ("lateness_mean_ms", "Looping call at 50 ms: mean lateness (under load, 10 s)", "ms", 2),
    ("lateness_worst_ms", "Looping call at 50 ms: worst lateness (under load, 10 s)", "ms", 2),
    ("drift_ms", "Looping call at 50 ms: drift after 10 s (under load)", "ms", 1),
    ("stop_ms", "Looping call stop() until wait() returns, idle (worst of 3)", "ms", 2),
    ("stop_under_load_ms", "Looping call stop() until wait() returns, under load", "ms", 2),
    ("leak_gather", "Threads left after 10000 scatter-gather cycles", "", 0),
    ("leak_looping", "Threads left after 1000 looping-call cycles", "", 0),
)
METRIC_INFO = {key: (label, unit, decimals) for key, label, unit, decimals in METRICS}


def summarize(samples):
    """{variant: {metric: {"values", "median", "min", "max"}}} over the rounds."""
    summary = {}
    for variant, rounds in samples.items():
        per_metric = {}
        for key, *_ in METRICS:
            if key == "gather_vs_stdlib":
                values = [
                    r["gather_us"] / r["stdlib_gather_us"]
                    for r in rounds
                    if r.get("stdlib_gather_us")
                ]
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
        f"start {_fmt(sample.get('start_s'), 2)} s",
        f"SIGTERM idle/load {_fmt(sample.get('sigterm_idle_s'), 3)}/"
        f"{_fmt(sample.get('sigterm_load_s'), 3)} s",
        f"gather {_fmt(sample.get('gather_us'), 1)} us/task",
    ]
    if sample.get("lateness_mean_ms") is not None:
        parts.append(
            f"lateness {_fmt(sample['lateness_mean_ms'], 1)}/"
            f"{_fmt(sample['lateness_worst_ms'], 1)} ms"
        )
    return ", ".join(parts)


def ratio(summary, key, against, key_against=None):
    ours = median(summary, "ours", key)
    other = median(summary, against, key_against or key)
    if ours is None or other is None or ours < 0 or other <= 0:
        return None
    return ours / other


def targets(summary):
    """[(target, measured text, met: True/False/None)]."""
    rows = []

    def add(text, measured, met):
        rows.append((text, measured, met))

    def cmp_ratio(text, key, against, limit, key_against=None, strict=False):
        r = ratio(summary, key, against, key_against)
        if r is None:
            add(text, "n/a", None)
            return
        add(text, f"{r:.2f}x", r < limit if strict else r <= limit)

    cmp_ratio("Worker USS <= oslo.service eventlet's", "uss_mib", "oslo-eventlet", 1.0)
    cmp_ratio("Worker USS <= 0.9x oslo.service threading's", "uss_mib", "oslo-threading", 0.9)
    cmp_ratio(
        "Start to serving <= 0.8x oslo.service threading's", "start_s", "oslo-threading", 0.8
    )
    cmp_ratio(
        "SIGTERM to all gone (idle) <= oslo.service threading's",
        "sigterm_idle_s",
        "oslo-threading",
        1.0,
    )
    cmp_ratio(
        "SIGTERM to all gone (under load) <= oslo.service threading's",
        "sigterm_load_s",
        "oslo-threading",
        1.0,
    )
    idle = median(summary, "ours", "sigterm_idle_s")
    add(
        "SIGTERM to all gone (idle) < 0.3 s",
        "n/a" if idle is None else f"{idle:.3f} s",
        None if idle is None else idle < 0.3,
    )
    vs_stdlib = median(summary, "ours", "gather_vs_stdlib")
    add(
        "Scatter-gather overhead <= 1.15x the stdlib pool",
        "n/a" if vs_stdlib is None else f"{vs_stdlib:.2f}x",
        None if vs_stdlib is None else vs_stdlib <= 1.15,
    )
    cmp_ratio(
        "Scatter-gather overhead < futurist's green pool",
        "gather_us",
        "oslo-eventlet",
        1.0,
        strict=True,
    )
    stops = [worst(summary, "ours", k) for k in ("stop_ms", "stop_under_load_ms")]
    stops = [s for s in stops if s is not None]
    add(
        "Looping call stop() < 50 ms (worst sample)",
        "n/a" if not stops else f"{max(stops):.2f} ms",
        None if not stops else max(stops) < 50,
    )
    leaks = [worst(summary, "ours", k) for k in ("leak_gather", "leak_looping")]
    if any(v is None for v in leaks):
        known = [v for v in leaks if v is not None]
        add(
            "No leaked threads (1000 looping calls, 10000 scatter-gathers)",
            "n/a (looping calls not measured)" if known else "n/a",
            None,
        )
    else:
        add(
            "No leaked threads (1000 looping calls, 10000 scatter-gathers)",
            f"{max(leaks[1], 0):.0f} / {max(leaks[0], 0):.0f} threads",
            max(leaks) <= 0,
        )
    return rows


def _status(met):
    return {True: "met", False: "MISSED", None: "not measured"}[met]


def ratios_text(summary):
    lines = ["Ratios (medians, oslo_threading_backend / other):"]
    for key, label, _unit, _ in METRICS:
        if key in ("gather_vs_stdlib", "leak_gather", "leak_looping", "stdlib_gather_us"):
            continue
        parts = []
        for other in ("oslo-threading", "oslo-eventlet"):
            r = ratio(summary, key, other)
            if r is not None:
                parts.append(f"{r:.2f}x {LABELS[other]}")
        if parts:
            lines.append(f"  {label}: " + ", ".join(parts))
    vs = median(summary, "ours", "gather_vs_stdlib")
    if vs is not None:
        lines.append(f"  Scatter-gather overhead: {vs:.2f}x the stdlib pool (same process)")
    return "\n".join(lines)


def targets_text(summary):
    lines = ["Targets:"]
    for text, measured, met in targets(summary):
        lines.append(f"  [{_status(met):>12}] {text}: {measured}")
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


def markdown(summary, run):
    variants = [v for v in VARIANTS if v in summary]
    others = [v for v in ("oslo-threading", "oslo-eventlet") if v in summary]
    header = ["Figure", *(LABELS[v] for v in variants), *(f"ours / {LABELS[o]}" for o in others)]
    lines = [
        "<!-- Generated by benchmarks/bench_backends.py (tox -e bench); do not edit. -->",
        "",
        f"Run of {run['date']}: {run['rounds']} rounds (A B C alternating), {run['workers']} "
        f"workers per service, {run['load_seconds']:.0f} s of steady load, {run['cpus']} CPUs, "
        f"Python {run['python']}, load average {run['load_before']} before and "
        f"{run['load_after']} after, {run['minutes']:.1f} minutes.",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in run["versions"].items()) + ".",
        "",
        "Median (min–max) over the rounds.",
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
            r = (
                None
                if key.startswith("leak") or key == "gather_vs_stdlib"
                else ratio(summary, key, other)
            )
            cells.append("" if r is None else f"{r:.2f}x")
        lines.append("| " + " | ".join([name, *cells]) + " |")
    lines += ["", "| Target | Measured | Status |", "|---|---:|---|"]
    for text, measured, met in targets(summary):
        lines.append(f"| {text} | {measured} | {_status(met)} |")
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
        ("Start to all workers serving (s)", (("start_idle_s", "idle"), ("start_s", "load"))),
        (
            "SIGTERM to every process gone (s)",
            (("sigterm_idle_s", "idle"), ("sigterm_load_s", "load")),
        ),
        (
            "Scatter-gather overhead (µs/task)",
            (("gather_us", "own"), ("stdlib_gather_us", "stdlib")),
        ),
        (
            "Looping call 50 ms lateness (ms)",
            (("lateness_mean_ms", "mean"), ("lateness_worst_ms", "worst")),
        ),
        ("Looping call stop() (ms)", (("stop_ms", "idle"), ("stop_under_load_ms", "load"))),
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
