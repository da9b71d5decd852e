"""One benchmark run of one variant, in a fresh process started by bench_backends.py.

Usage: python benchmarks/_variant.py VARIANT MODE
  VARIANT: ours | oslo-threading | oslo-eventlet
  MODE:    load  - ProcessLauncher with the scheduler service under load, until SIGTERM
           sched - the pool-cost service of the growth runs (_growth.py): requests on
                   a 64-thread RPC-style pool, scatter-gather on BENCH_SG_POOL threads,
                   until SIGTERM (the bench's scheduler step is sched_service.py)
           idle  - the same service with nothing to do, until SIGTERM
           micro - scatter-gather overhead, looping-call stop() latency, thread leak check

BENCH_WORKERS sets the number of workers (default 2). Results are JSON lines on the
file descriptor named by BENCH_REPORT_FD. Only
``sys``, ``os`` and ``_api`` are imported before the variant is selected: the
eventlet variant must monkey-patch before anything else is imported.
"""

import os
import sys

import _api

WORKERS = int(os.environ.get("BENCH_WORKERS", "2"))
GATHER_WIDTH = 5
GATHER_REPEATS = 20
GATHER_CYCLES_PER_REPEAT = 500  # 20 x 500 = the 10000 cycles of the leak check
LOOPING_CYCLES = 1000
STOP_SAMPLES = 3
STOP_INTERVAL = 1.0
STOP_AFTER = 0.2
SETTLE_SECONDS = 1.2  # past futurist's 1 s idle poll, so exiting threads are gone


def run_service(under_load, shaped=False):
    from oslo_config import cfg
    from oslo_log import log
    import scheduler_service

    # Logging through oslo.log, at its default INFO level, as an OpenStack service does.
    conf = cfg.ConfigOpts()
    log.register_options(conf)
    conf(args=[], project="bench", default_config_files=[], default_config_dirs=[])
    log.setup(conf, "bench")
    launcher = _api.service.ProcessLauncher(conf)
    if _api.variant == "ours":
        # The launcher registered the pool options on conf; nova's sizes, as _api's.
        conf.set_override("scatter_gather_thread_pool_size", _api.SCATTER_GATHER_POOL_SIZE)
        conf.set_override("thread_pool_sizes", {"rpc": str(_api.REQUEST_POOL_SIZE)})
    service = scheduler_service.SchedulerService(under_load, shaped=shaped)
    launcher.launch_service(service, workers=WORKERS)
    scheduler_service.report("launching")
    return launcher.wait()


def _noop(target):
    return target


def _gather_us_per_task(scatter_gather):
    """Per-task cost of GATHER_CYCLES_PER_REPEAT 5-wide scatter-gathers of a no-op."""
    import time

    targets = tuple(range(GATHER_WIDTH))
    started = time.perf_counter()
    for _ in range(GATHER_CYCLES_PER_REPEAT):
        scatter_gather(targets, _noop, timeout=10.0)
    elapsed = time.perf_counter() - started
    return elapsed / (GATHER_CYCLES_PER_REPEAT * GATHER_WIDTH) * 1e6


def _interleaved_gather(scatter_gather, stdlib):
    """Medians of both, and one ratio per pair of neighbouring repeats.

    The two alternate (A B, B A, A B, ...) in this one process, so a busy machine
    slows both sides of each pair alike; the spread of the pairs is the noise.
    """
    import statistics

    ours, theirs, pairs = [], [], []
    for repeat in range(GATHER_REPEATS):
        if stdlib is None:
            ours.append(_gather_us_per_task(scatter_gather))
            continue
        if repeat % 2:
            b = _gather_us_per_task(stdlib)
            a = _gather_us_per_task(scatter_gather)
        else:
            a = _gather_us_per_task(scatter_gather)
            b = _gather_us_per_task(stdlib)
        ours.append(a)
        theirs.append(b)
        pairs.append(a / b)
    return (
        statistics.median(ours),
        statistics.median(theirs) if theirs else None,
        pairs,
    )


def _stdlib_scatter_gather():
    """The same shape on the standard library's pool: submit, wait, collect."""
    from concurrent import futures

    pool = futures.ThreadPoolExecutor(max_workers=_api.SCATTER_GATHER_POOL_SIZE)

    def scatter_gather(targets, fn, *args, timeout=60.0):
        submitted = {t: pool.submit(fn, t, *args) for t in targets}
        futures.wait(submitted.values(), timeout)
        return {t: f.result() if f.done() else _api.DID_NOT_RESPOND for t, f in submitted.items()}

    return scatter_gather


def _threads():
    return _api.native_thread_count() + _api.green_thread_count()


def _settled_threads():
    import gc
    import time

    time.sleep(SETTLE_SECONDS)
    gc.collect()
    return _threads()


def _looping_cycle(loopingcall):
    call = loopingcall.FixedIntervalLoopingCall(_noop, None)
    call.start(interval=0.01)
    call.stop()
    call.wait()


def _stop_latency(loopingcall):
    """Seconds from stop() until wait() returns, for a loop asleep in its 1 s interval."""
    import time

    call = loopingcall.FixedIntervalLoopingCall(_noop, None)
    call.start(interval=STOP_INTERVAL)
    time.sleep(STOP_AFTER)
    started = time.perf_counter()
    call.stop()
    call.wait()
    return time.perf_counter() - started


def run_micro():
    import scheduler_service

    result = {"green": _api.green}
    stdlib = None if _api.green else _stdlib_scatter_gather()
    # Warm up, so that pools and their threads exist before the thread baseline.
    for _ in range(10):
        _api.scatter_gather(range(GATHER_WIDTH), _noop)
        if stdlib is not None:
            stdlib(range(GATHER_WIDTH), _noop)
    if _api.loopingcall is not None:
        _looping_cycle(_api.loopingcall)
    baseline = _settled_threads()
    result["threads_baseline"] = baseline

    ours, theirs, pairs = _interleaved_gather(_api.scatter_gather, stdlib)
    result["gather_us_per_task"] = ours
    result["threads_after_gather_cycles"] = _settled_threads() - baseline
    if theirs is not None:
        result["stdlib_gather_us_per_task"] = theirs
        result["gather_pairs"] = pairs

    if _api.loopingcall is not None:
        before = _threads()
        for _ in range(LOOPING_CYCLES):
            _looping_cycle(_api.loopingcall)
        result["threads_after_looping_cycles"] = _settled_threads() - before
        result["stop_seconds"] = [_stop_latency(_api.loopingcall) for _ in range(STOP_SAMPLES)]
    scheduler_service.report("micro", **result)
    return 0


def main(argv):
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    variant, mode = argv[1], argv[2]
    _api.select(variant)
    if mode in ("load", "idle", "sched"):
        return run_service(under_load=mode != "idle", shaped=mode == "sched")
    if mode == "micro":
        return run_micro()
    print(f"unknown mode {mode!r}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
