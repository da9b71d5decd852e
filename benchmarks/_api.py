"""The oslo.service API as each benchmarked variant provides it, chosen once per process.

``select(variant)`` must run before anything imports threading users: the eventlet
variant monkey-patches here, and each oslo.service variant picks its backend here
(backend selection in oslo.service is process-global). Afterwards the service code
reads ``from _api import service`` exactly as it would read ``from oslo_service
import service``.

oslo.service has no scatter-gather: its two variants use nova's pattern (a futurist
pool of ``cell_worker_thread_pool_size`` = 5 and ``futurist.waiters.wait_for_all``),
on native threads for the threading backend and on futurist's green pool for the
eventlet backend. This package's variant uses ``oslo_threading_backend.scatter_gather``.
"""

import os
import sys

VARIANTS = ("ours", "oslo-threading", "oslo-eventlet")
LABELS = {
    "ours": "oslo_threading_backend",
    "oslo-threading": "oslo.service threading",
    "oslo-eventlet": "oslo.service eventlet",
}
# nova's cell_worker_thread_pool_size default; the scheduler-shaped run and the
# pool-size runs set BENCH_SG_POOL (the seed's 40, as nova's cpu*5 gave).
SCATTER_GATHER_POOL_SIZE = int(os.environ.get("BENCH_SG_POOL", "5"))
# oslo.messaging's executor_thread_pool_size: the RPC server's request pool.
REQUEST_POOL_SIZE = 64
# scheduler_service's host-state refresh, every second under load; here so that
# the harness (which never selects a variant) can read it.
REFRESH_INTERVAL = 1.0
DID_NOT_RESPOND = object()

# Filled by select(): the same names the service code would import from oslo.service.
variant = None
service = None
loopingcall = None  # None when the variant has no looping calls (yet)
scatter_gather = None
request_pool = None  # () -> the executor RPC-style requests are dispatched on
green = False


def stop_requests():
    """Stop the request pool as oslo.messaging's ``server.stop(); server.wait()`` does
    (nova's Service.stop() calls them first): no new request, calls in flight finish.
    ``executor.shutdown(wait=True)`` is what that wait() calls, on every variant."""
    request_pool().shutdown(wait=True)


def select(name):
    """Load the variant's backend; call once, first thing in the process."""
    global variant, service, loopingcall, scatter_gather, request_pool, green
    if variant is not None:
        raise RuntimeError(f"variant already selected: {variant}")
    if name == "ours":
        from oslo_threading_backend import backend

        backend.init_backend(backend.BackendType.THREADING)
        from oslo_threading_backend import scatter_gather as sg
        from oslo_threading_backend import service as svc

        try:
            from oslo_threading_backend import loopingcall as lc
        except ImportError:  # not in this tree yet: looping-call figures are skipped
            lc = None

        def ours_scatter_gather(targets, fn, *args, timeout=60.0):
            results = sg.scatter_gather(targets, fn, *args, timeout=timeout)
            return {
                t: (DID_NOT_RESPOND if r is sg.DID_NOT_RESPOND else r) for t, r in results.items()
            }

        def ours_request_pool():
            # Sized by the worker's conf: thread_pool_sizes = rpc:64 (see _variant.py).
            from oslo_threading_backend import executors

            return executors.get_executor("rpc")

        service, loopingcall, scatter_gather = svc, lc, ours_scatter_gather
        request_pool = ours_request_pool
    elif name in ("oslo-threading", "oslo-eventlet"):
        green = name == "oslo-eventlet"
        if green:
            import eventlet

            eventlet.monkey_patch()
        from oslo_service import backend

        backend.init_backend(
            backend.BackendType.EVENTLET if green else backend.BackendType.THREADING
        )
        import futurist
        from oslo_service import loopingcall as lc
        from oslo_service import service as svc

        pool_class = futurist.GreenThreadPoolExecutor if green else futurist.ThreadPoolExecutor
        pool = NovaStyleScatterGather(pool_class, SCATTER_GATHER_POOL_SIZE)
        # oslo.messaging's 'threading' / 'eventlet' executors are these futurist pools.
        requests = PerProcessPool(pool_class, REQUEST_POOL_SIZE)
        service, loopingcall, scatter_gather = svc, lc, pool
        request_pool = requests.executor
    else:
        raise ValueError(f"unknown variant {name!r}; expected one of {', '.join(VARIANTS)}")
    variant = name


class PerProcessPool:
    """A futurist pool created lazily in each process."""

    def __init__(self, pool_class, size):
        self._pool_class = pool_class
        self._size = size
        self._pool = None
        self._pid = None

    def executor(self):
        # A forked worker has none of its parent's pool threads: build its own.
        if self._pid != os.getpid():
            self._pool = self._pool_class(max_workers=self._size)
            self._pid = os.getpid()
        return self._pool


class NovaStyleScatterGather(PerProcessPool):
    """nova's scatter_gather_cells on a futurist pool."""

    def __call__(self, targets, fn, *args, timeout=60.0):
        from futurist import waiters

        pool = self.executor()
        futures = {t: pool.submit(fn, t, *args) for t in targets}
        waiters.wait_for_all(list(futures.values()), timeout)
        results = {}
        for target, future in futures.items():
            if not future.done():
                future.cancel()
                results[target] = DID_NOT_RESPOND
            elif future.exception() is not None:
                results[target] = future.exception()
            else:
                results[target] = future.result()
        return results


def native_thread_count():
    """OS threads of this process (green threads are not counted)."""
    return len(os.listdir("/proc/self/task"))


def green_thread_count():
    """Live greenlets (eventlet's threads); 0 when greenlet is not loaded."""
    if "greenlet" not in sys.modules:
        return 0
    import gc

    import greenlet

    return sum(1 for o in gc.get_objects() if isinstance(o, greenlet.greenlet) and not o.dead)
