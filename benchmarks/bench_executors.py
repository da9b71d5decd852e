"""Timing goals of the executors, measured against futurist's ThreadPoolExecutor.

Run: PYTHONPATH=. python benchmarks/bench_executors.py
Goals: shutdown(wait=True) of an idle pool well under 1 s (futurist: ~1 s, its idle
poll); per-task overhead of a 5-wide scatter-gather no worse than futurist's.
"""

import statistics
import threading
import time

import futurist

from oslo_threading_backend._threads.pool import ThreadPoolExecutor


def idle_shutdown_seconds(make_pool, threads=5):
    pool = make_pool(threads)
    barrier = threading.Barrier(threads + 1)
    for _ in range(threads):
        pool.submit(barrier.wait)
    barrier.wait()
    time.sleep(0.05)  # let the threads go idle: this is a measurement, not a test
    started = time.perf_counter()
    pool.shutdown(wait=True)
    return time.perf_counter() - started


def scatter_gather_us_per_task(make_pool, width=5, rounds=2000):
    pool = make_pool(width)
    try:
        started = time.perf_counter()
        for _ in range(rounds):
            futures = [pool.submit(int, i) for i in range(width)]
            for f in futures:
                f.result()
        return (time.perf_counter() - started) / (rounds * width) * 1e6
    finally:
        pool.shutdown(wait=True)


def main():
    pools = {
        "ours": lambda n: ThreadPoolExecutor(n, name="bench"),
        "futurist": lambda n: futurist.ThreadPoolExecutor(max_workers=n),
    }
    for label, make in pools.items():
        shutdowns = [idle_shutdown_seconds(make) for _ in range(3)]
        overhead = statistics.median(scatter_gather_us_per_task(make) for _ in range(3))
        print(
            f"{label:9s} idle shutdown(wait=True): {max(shutdowns) * 1000:7.1f} ms (worst of 3)"
            f"   5-wide scatter-gather: {overhead:6.1f} us/task (median of 3)"
        )


if __name__ == "__main__":
    main()
