"""What the master does around forking a worker, beyond ``os.fork()``.

Hold the signals sent to a just-forked worker until the worker can handle
them, and keep the worker's memory shared with the master (``gc.freeze()``).
Before forking the master also hands the memory its allocator holds free
back to the kernel (glibc's ``malloc_trim``): a forked worker maps every page
the master has resident, so free pages inherited from the master's imports
counted in each worker's RSS (measured: 0.3-0.45 MiB per worker).

Workers forked in a row (:func:`fork_batch`) are prepared for once, before the
first: a page the master writes after a fork is copied for the master, and the
workers forked before keep the original, each then its only holder. Measured
on the bench's scheduler master: 3.9 MiB of its pages written between its two
forks when it prepared before each, 1.2 MiB now; the first worker's pages that
no other process shares, 0.7-0.8 -> 0.1 MiB.

Works around cotyledon 2.2.0: a worker forked by the master inherits the
master's signal handlers and its ``signal.set_wakeup_fd`` pipe. Until
cotyledon's ``ServiceWorker`` has installed its own pipe, a signal sent to the
new worker (a SIGTERM from the master's shutdown, a ``reconfigure()``
scale-down, or an operator) is written into the *master's* pipe, and the
master acts on it: a SIGTERM meant for one worker shut the whole service down.

The fix: the forking thread blocks those signals around ``fork()``; the child
inherits the blocked mask, so signals sent to it stay pending in the kernel. The
child detaches the master's pipe at once and unblocks only when cotyledon calls
the ``new_worker`` hook, after the worker's own handlers and pipe exist; the
pending signals are then delivered to the worker itself. The mask also
survives the exec of the 'spawn' start method, where a SIGHUP sent to a worker
still importing used to kill it (SIGHUP's default action).
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterator
import contextlib
import gc
import os
import signal
import threading
from typing import Any

from oslo_threading_backend._processes import glibc_malloc as _glibc_malloc

HELD_SIGNALS = frozenset(
    {signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGALRM, signal.SIGCHLD}
)

_hooks_registered = False
_registration_lock = threading.Lock()
# Per thread: is this thread forking a worker right now.
_forking = threading.local()
# Per thread: is this thread forking a batch of workers (prepared for once).
_batch = threading.local()


def _nothing() -> None:
    pass


@contextlib.contextmanager
def fork_batch() -> Iterator[None]:
    """The workers this thread forks inside the block are prepared for once.

    The first :func:`forking_worker` of the block prepares (its ``prepare``, then
    ``trim_free_memory()``), the next ones do not; a block that forks nothing
    prepares nothing. A nested block changes nothing.
    """
    if getattr(_batch, "active", False):
        yield
        return
    _batch.active, _batch.prepared = True, False
    try:
        yield
    finally:
        _batch.active = False


@contextlib.contextmanager
def forking_worker(prepare: Callable[[], Any] = _nothing) -> Iterator[None]:
    """Hold the launcher's signals in the workers this thread starts inside the block.

    The forking thread blocks them around the fork (or the fork and exec of
    the 'spawn' start method): the new process inherits the blocked mask, so
    signals sent to it stay pending until ``release_held_signals()``. The
    master's other threads, the main one included, keep receiving them.
    Outside a :func:`fork_batch` (a respawn), the master is prepared first.
    """
    global _hooks_registered
    with _registration_lock:
        if not _hooks_registered:
            os.register_at_fork(after_in_child=_after_fork_in_child)
            _hooks_registered = True
    in_batch = getattr(_batch, "active", False)
    if not (in_batch and _batch.prepared):
        prepare()
        # After the caller's preparation: what its imports freed is returned too.
        trim_free_memory()
        _batch.prepared = in_batch
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, HELD_SIGNALS)
    _forking.active = True
    try:
        yield
    finally:
        _forking.active = False
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def trim_free_memory() -> bool:
    """Give the free pages of the C heap back to the kernel; False where that is not glibc."""
    return _glibc_malloc.trim()


def _after_fork_in_child() -> None:
    if not getattr(_forking, "active", False):
        return
    _forking.active = False
    # The forking thread is this process's main thread now, so this is allowed.
    # Nothing may write into the master's wakeup pipe from here on.
    signal.set_wakeup_fd(-1)
    # Keep the worker's garbage collector off the objects inherited from the
    # master: a collection writes to every object it visits, which copies the
    # master's pages into each worker (measured: worker USS 23.9 -> 18.7 MiB).
    gc.freeze()


def release_held_signals(*_hook_args: Any) -> None:
    """cotyledon ``new_worker`` hook: the worker handles its signals from now on.

    Module-level so the hook list stays picklable for the 'spawn' start method.
    """
    signal.pthread_sigmask(signal.SIG_UNBLOCK, HELD_SIGNALS)
