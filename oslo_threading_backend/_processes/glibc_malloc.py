"""glibc malloc's run-time knobs, through ctypes: ``malloc_trim(0)`` and ``mallopt(M_ARENA_MAX)``.

A threaded worker's extra memory against an eventlet one is mostly glibc's: one
malloc arena per concurrently allocating thread (up to 8 per CPU) and each
thread's cache of freed small chunks (tcache), which only the thread's exit
returns to its arena. These calls return what the arenas hold free to the OS
after pool threads exit, and cap the number of arenas in a process.

Where the C library is not glibc (musl, or no libc symbols visible to ctypes)
every call is a no-op returning False, said once at DEBUG.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
import time
from typing import Any

LOG = logging.getLogger(__name__)

#: mallopt()'s parameter number for the arena cap (glibc's malloc.h).
M_ARENA_MAX = -8

#: Seconds between a request for a trim and the trim: threads that retire
#: together (they went idle together) are trimmed for once.
TRIM_DELAY = 1.0


@functools.cache
def _libc() -> Any | None:
    """The process's glibc, or None (said once) if the process does not run on glibc."""
    import ctypes  # here: a process that never trims nor caps never loads it

    try:
        libc = ctypes.CDLL(None)
        get_version = libc.gnu_get_libc_version
        libc.malloc_trim, libc.mallopt  # noqa: B018 - present in every glibc
    except (OSError, AttributeError) as exc:
        LOG.debug("Not glibc (%s): malloc_trim and mallopt are not called", exc)
        return None
    get_version.restype = ctypes.c_char_p
    libc.malloc_trim.argtypes = [ctypes.c_size_t]
    libc.malloc_trim.restype = ctypes.c_int
    libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    libc.mallopt.restype = ctypes.c_int
    return libc


def glibc_version() -> str | None:
    """glibc's version ("2.36"), or None on another C library."""
    libc = _libc()
    return None if libc is None else libc.gnu_get_libc_version().decode()


def trim() -> bool:
    """``malloc_trim(0)``: give the free memory of every arena back to the OS.

    False (and nothing done) where the C library is not glibc.
    """
    libc = _libc()
    if libc is None:
        return False
    libc.malloc_trim(0)
    return True


def set_arena_max(arenas: int) -> bool:
    """``mallopt(M_ARENA_MAX, arenas)``: cap the arenas this process (and its forks) create.

    Arenas that exist already are kept; new threads share the existing ones once
    the cap is reached. False if glibc refused it or the C library is not glibc.
    """
    if isinstance(arenas, bool) or not isinstance(arenas, int) or arenas < 1:
        raise ValueError(f"arenas must be an integer >= 1, got {arenas!r}")
    libc = _libc()
    return bool(libc is not None and libc.mallopt(M_ARENA_MAX, arenas))


class DelayedTrim:
    """At most one ``trim()`` per ``delay`` seconds, ``delay`` after the first request.

    A thread's cache goes back to its arena only when the thread has exited,
    after its last Python code ran, so the thread that retires cannot trim its
    own memory: it asks for a trim a moment later, on a short-lived timer thread.
    """

    def __init__(self, delay: float = TRIM_DELAY) -> None:
        self._delay = delay
        self._lock = threading.Lock()
        self._pending: threading.Timer | None = None
        self.enabled = True  # [DEFAULT] malloc_trim_after_idle_exit
        self.trims = 0  # done so far (for tests and statistics)

    def request(self) -> None:
        """Trim ``delay`` seconds from now unless a trim is already due; never raises."""
        if not self.enabled or _libc() is None:
            return
        with self._lock:
            if self._pending is not None:
                return
            timer = threading.Timer(self._delay, self._run)
            timer.daemon = True
            timer.name = "malloc-trim"
            self._pending = timer
        try:
            timer.start()
        except RuntimeError:  # no more threads now, or the interpreter is exiting
            with self._lock:
                self._pending = None

    def _run(self) -> None:
        with self._lock:
            self._pending = None
        started = time.monotonic()
        trim()
        self.trims += 1
        LOG.debug(
            "malloc_trim(0) after pool threads exited: %.1f ms",
            (time.monotonic() - started) * 1000,
        )

    def after_fork_in_child(self) -> None:
        """A timer of the parent does not exist in a child: a new request must start one."""
        self._lock = threading.Lock()
        self._pending = None


#: The process's one trimmer, used by every pool.
trimmer = DelayedTrim()

os.register_at_fork(after_in_child=trimmer.after_fork_in_child)


TCACHE_OFF = "glibc.malloc.tcache_count=0"


def tunable_set(tunables: str, name: str) -> bool:
    """Whether ``GLIBC_TUNABLES``-style ``tunables`` ("a=1:b=2") sets ``name``."""
    return any(item.split("=", 1)[0].strip() == name for item in tunables.split(":"))


def with_tcache_off(tunables: str) -> str:
    """``tunables`` with glibc's per-thread cache off, unless it sets the cache itself."""
    if tunable_set(tunables, "glibc.malloc.tcache_count"):
        return tunables
    return f"{tunables}:{TCACHE_OFF}" if tunables else TCACHE_OFF
