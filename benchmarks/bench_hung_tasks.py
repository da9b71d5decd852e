"""What watching for stuck tasks costs per task ([DEFAULT] hung_task_threshold).

Run: PYTHONPATH=. python benchmarks/bench_hung_tasks.py
Goal: registering and unregistering a task (begin() + end()) well under 1 us,
a small fraction of a pool task's own overhead (~25 us per task on a 5-wide
scatter-gather); the check off (0) costs a global read.
"""

import statistics
import threading
import time

from bench_executors import scatter_gather_us_per_task
import futurist

from oslo_threading_backend._threads import hung_tasks
from oslo_threading_backend._threads.pool import ThreadPoolExecutor
from oslo_threading_backend._upstream import futurist_hung_tasks


def begin_end_ns(n=200_000):
    """ns per begin()+end() pair, on this thread (the watcher sleeps: no task is late)."""
    begin, end, func = hung_tasks.begin, hung_tasks.end, len
    started = time.perf_counter_ns()
    for _ in range(n):
        end(begin(None, func))
    return (time.perf_counter_ns() - started) / n


def busy_begin_end_ns(n=200_000, others=64):
    """As begin_end_ns, with ``others`` tasks running on other threads meanwhile."""
    release = threading.Event()
    ready = threading.Barrier(others + 1)

    def hold():
        with hung_tasks.watching("bench", hold):
            ready.wait()
            release.wait()

    threads = [threading.Thread(target=hold) for _ in range(others)]
    for thread in threads:
        thread.start()
    ready.wait()
    try:
        return begin_end_ns(n)
    finally:
        release.set()
        for thread in threads:
            thread.join()


def median_of(fn, runs=5):
    return statistics.median(fn() for _ in range(runs))


def main():
    for label, threshold in (("on (600 s)", 600.0), ("off (0)", 0)):
        hung_tasks.set_threshold(threshold)
        pair = median_of(begin_end_ns)
        busy = median_of(busy_begin_end_ns, runs=3)
        print(
            f"check {label:10s} begin()+end(): {pair:6.0f} ns/task, "
            f"{busy:6.0f} ns/task with 64 tasks running elsewhere (median)"
        )
    pools = {
        "ours": lambda n: ThreadPoolExecutor(n, name="bench"),
        "futurist": lambda n: futurist.ThreadPoolExecutor(max_workers=n),
    }
    for label, make in pools.items():
        results = {}
        for state, threshold in (("on", 600.0), ("off", 0)):
            hung_tasks.set_threshold(threshold)
            if label == "futurist":
                futurist_hung_tasks.apply()
            results[state] = median_of(lambda make=make: scatter_gather_us_per_task(make))
        if label == "futurist":
            futurist_hung_tasks.remove()
            results["unwrapped"] = median_of(lambda make=make: scatter_gather_us_per_task(make))
        shown = ", ".join(f"{k} {v:5.1f} us" for k, v in results.items())
        print(f"{label:9s} 5-wide scatter-gather per task (median of 5): {shown}")
    hung_tasks.set_threshold(hung_tasks.DEFAULT_THRESHOLD)


if __name__ == "__main__":
    main()
