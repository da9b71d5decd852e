"""How cost grows: our service with 1 to 16 workers, and a worker's cost per pool size.

Workers: the idle service (beside oslo.service's eventlet backend, interleaved per
size) with N workers: start to READY=1, SIGTERM to every process gone, the master's
RSS and the sum of the workers' USS. Pools: the scheduler-shaped service under load
with a scatter-gather pool of 40 (the seed's configuration, nova's cpu*5), 10 and
5 threads, interleaved: a worker's RSS, USS and OS threads at the end of the load.
"""

import statistics

from _runs import Run
from _runs import memory_of

WORKER_COUNTS = (1, 2, 4, 8, 16)
WORKER_VARIANTS = ("ours", "oslo-eventlet")
POOL_SIZES = (40, 10, 5)
# oslo.service threading for contrast: futurist's pool starts a thread on every submit
# until it is full, ours only when no thread is idle.
POOL_VARIANTS = ("ours", "oslo-threading")
LABELS = {
    "ours": "oslo_threading_backend",
    "oslo-eventlet": "oslo.service eventlet",
    "oslo-threading": "oslo.service threading",
}
SHORT = {"ours": "ours", "oslo-eventlet": "eventlet", "oslo-threading": "oslo threading"}


def run_workers(variant, workers, log_dir):
    with Run(variant, "idle", log_dir, workers) as run:
        ready = run.wait_ready()
        run.drain(0.5)
        master = memory_of(run.proc.pid)
        uss = sum(memory_of(pid)["uss"] for pid in run.worker_pids)
        gone = run.sigterm_to_gone()
        return {
            "ready_s": ready,
            "sigterm_s": gone,
            "master_rss_mib": master["rss"],
            "uss_mib": uss,
        }


def run_pool(variant, size, load_seconds, log_dir):
    env = {"BENCH_SG_POOL": str(size)}
    probe = max(1.0, min(10.0, load_seconds - 1.0))
    with Run(variant, "sched", log_dir, 2, probe, env=env) as run:
        run.wait_serving()
        run.drain(load_seconds)
        memory = [memory_of(pid) for pid in run.worker_pids]
        run.sigterm_to_gone()
        return {
            "rss_mib": statistics.fmean(m["rss"] for m in memory),
            "uss_mib": statistics.fmean(m["uss"] for m in memory),
            "threads": max(m["threads"] for m in memory),
        }


def run_all(rounds, load_seconds, log_dir):
    """{"workers": {variant: {n: [sample]}}, "pools": {variant: {size: [sample]}}}."""
    growth = {
        "workers": {v: {n: [] for n in WORKER_COUNTS} for v in WORKER_VARIANTS},
        "pools": {v: {size: [] for size in POOL_SIZES} for v in POOL_VARIANTS},
        "pool_load_seconds": load_seconds,
    }
    for round_number in range(1, rounds + 1):
        for n in WORKER_COUNTS:
            for variant in WORKER_VARIANTS:
                print(f"  growth round {round_number}: {variant}, {n} workers...", flush=True)
                growth["workers"][variant][n].append(run_workers(variant, n, log_dir))
        for size in POOL_SIZES:
            for variant in POOL_VARIANTS:
                print(f"  growth round {round_number}: {variant}, pool of {size}...", flush=True)
                growth["pools"][variant][size].append(
                    run_pool(variant, size, load_seconds, log_dir)
                )
    return growth


def _median(samples, key):
    values = [s[key] for s in samples if s.get(key) is not None]
    return statistics.median(values) if values else None


def _fmt(value, decimals):
    return "n/a" if value is None else f"{value:.{decimals}f}"


WORKER_COLUMNS = (
    ("ready_s", "start to READY=1 (s)", 3),
    ("sigterm_s", "SIGTERM to all gone (s)", 3),
    ("master_rss_mib", "master RSS (MiB)", 1),
    ("uss_mib", "sum of worker USS (MiB)", 1),
)
POOL_COLUMNS = (
    ("rss_mib", "worker RSS (MiB)", 1),
    ("uss_mib", "worker USS (MiB)", 1),
    ("threads", "worker OS threads", 0),
)


def _tables(growth):
    """(header, rows) of the workers table and of the pools table."""
    variants = [v for v in WORKER_VARIANTS if v in growth["workers"]]
    header = ["workers"] + [
        f"{title}, {SHORT[v]}" for _key, title, _ in WORKER_COLUMNS for v in variants
    ]
    rows = []
    for n in WORKER_COUNTS:
        row = [str(n)]
        for key, _title, decimals in WORKER_COLUMNS:
            for v in variants:
                row.append(_fmt(_median(growth["workers"][v][n], key), decimals))
        rows.append(row)
    pools = growth["pools"]
    pool_header = ["scatter-gather pool"] + [
        f"{title}, {SHORT[v]}" for _k, title, _d in POOL_COLUMNS for v in pools
    ]
    pool_rows = [
        [str(size)]
        + [_fmt(_median(pools[v][size], k), d) for k, _t, d in POOL_COLUMNS for v in pools]
        for size in POOL_SIZES
    ]
    return (header, rows), (pool_header, pool_rows)


def text(growth):
    lines = ["How cost grows (medians):"]
    for header, rows in _tables(growth):
        lines.append("  " + " | ".join(header))
        lines.extend("  " + " | ".join(row) for row in rows)
        lines.append("")
    return "\n".join(lines).rstrip()


def markdown(growth, run):
    rounds = len(growth["workers"]["ours"][WORKER_COUNTS[0]])
    lines = [
        "<!-- Generated by benchmarks/bench_backends.py (tox -e bench); do not edit. -->",
        "",
        f"Run of {run['date']}, {rounds} round{'' if rounds == 1 else 's'}, {run['cpus']} CPUs, "
        "medians. Workers: the "
        "idle service with N workers. Pools: the scheduler-shaped service (2 workers, "
        f"{growth['pool_load_seconds']:.0f} s of load) with a scatter-gather pool of 40, 10 "
        "and 5.",
        "",
    ]
    for header, rows in _tables(growth):
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "|".join(["---:"] * len(header)) + "|")
        lines.extend("| " + " | ".join(row) + " |" for row in rows)
        lines.append("")
    return "\n".join(lines)


def chart(growth, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors = {"ours": "#2a7ab0", "oslo-eventlet": "#7a7a7a"}
    fig, axes = plt.subplots(1, 5, figsize=(18, 3.8))
    for ax, (key, title, _) in zip(axes, WORKER_COLUMNS, strict=False):
        for variant, by_n in growth["workers"].items():
            ys = [_median(by_n[n], key) for n in WORKER_COUNTS]
            ax.plot(WORKER_COUNTS, ys, marker="o", color=colors[variant], label=LABELS[variant])
        ax.set_xscale("log", base=2)
        ax.set_xticks(WORKER_COUNTS, [str(n) for n in WORKER_COUNTS])
        ax.set_xlabel("workers")
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    ax = axes[-1]
    sizes = list(POOL_SIZES)
    pool_colors = {"ours": "#2a7ab0", "oslo-threading": "#e08a2c"}
    for variant, by_size in growth["pools"].items():
        for key, label, style in (("rss_mib", "RSS", "-o"), ("uss_mib", "USS", ":s")):
            ys = [_median(by_size[s], key) for s in sizes]
            ax.plot(
                sizes, ys, style, color=pool_colors[variant], label=f"{SHORT[variant]} {label}"
            )
    ax.set_xlabel("scatter-gather pool size")
    ax.set_title("scheduler-shaped worker under load (MiB)", fontsize=10)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.suptitle("How cost grows (medians)")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
