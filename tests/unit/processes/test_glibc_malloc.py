"""glibc's malloc knobs through ctypes, against the real glibc (each in a fresh interpreter).

Where the C library is not glibc the calls are no-ops: checked by hiding glibc's
symbols from ctypes, as musl's libc has none of them.
"""

import logging
import subprocess
import sys
import textwrap

import pytest

from oslo_threading_backend._processes import glibc_malloc as _glibc_malloc
from tests.unit import polling

GLIBC = _glibc_malloc.glibc_version() is not None


def _run(code: str) -> list[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.split()


@pytest.mark.skipif(not GLIBC, reason="glibc's malloc")
def test_the_arena_cap_holds_for_new_threads():
    # 16 threads allocating at once get arenas of their own, unless capped.
    code = """
        import ctypes, sys, threading
        from oslo_threading_backend._processes import glibc_malloc as m
        if sys.argv[-1] == "cap":
            assert m.set_arena_max(2)
        libc = ctypes.CDLL(None)
        libc.malloc.restype = ctypes.c_void_p
        libc.free.argtypes = [ctypes.c_void_p]
        barrier = threading.Barrier(16)
        kept = []
        def work():
            barrier.wait()
            for _ in range(200):
                kept.append(libc.malloc(2000))
            barrier.wait()
        threads = [threading.Thread(target=work) for _ in range(16)]
        [t.start() for t in threads]
        [t.join() for t in threads]
        with open("/proc/self/maps") as maps:
            starts = [int(l.split("-")[0], 16) for l in maps if len(l.split()) == 5]
        # Each non-main arena is a 64 MiB-aligned anonymous heap.
        print(sum(1 for s in starts if s % (64 << 20) == 0))
    """
    free = int(_run(code.replace("sys.argv[-1]", "'free'"))[0])
    capped = int(_run(code.replace("sys.argv[-1]", "'cap'"))[0])
    assert capped < free, (capped, free)
    assert capped <= 2


@pytest.mark.skipif(not GLIBC, reason="glibc's malloc")
def test_the_delayed_trim_runs_once_for_many_requests():
    trimmer = _glibc_malloc.DelayedTrim(delay=0.05)
    for _ in range(20):
        trimmer.request()
    polling.wait_until(lambda: trimmer.trims == 1 and trimmer._pending is None)
    trimmer.request()  # a later request gets a trim of its own
    polling.wait_until(lambda: trimmer.trims == 2)


def test_off_the_trimmer_starts_nothing():
    trimmer = _glibc_malloc.DelayedTrim(delay=0.01)
    trimmer.enabled = False
    trimmer.request()
    assert trimmer._pending is None


def test_without_glibc_every_call_is_a_no_op_said_once(monkeypatch, caplog):
    import ctypes

    class NoGlibc:  # musl's libc: no gnu_get_libc_version, malloc_trim or mallopt
        def __init__(self, name):
            pass

    monkeypatch.setattr(ctypes, "CDLL", NoGlibc)
    _glibc_malloc._libc.cache_clear()
    try:
        with caplog.at_level(logging.DEBUG, logger=_glibc_malloc.__name__):
            assert _glibc_malloc.glibc_version() is None
            assert _glibc_malloc.trim() is False
            assert _glibc_malloc.set_arena_max(2) is False
            trimmer = _glibc_malloc.DelayedTrim(delay=0.01)
            trimmer.request()
            assert trimmer._pending is None
        assert len([r for r in caplog.records if "Not glibc" in r.getMessage()]) == 1
    finally:
        _glibc_malloc._libc.cache_clear()


@pytest.mark.parametrize(
    "tunables, merged",
    [
        ("", "glibc.malloc.tcache_count=0"),
        ("glibc.malloc.arena_max=2", "glibc.malloc.arena_max=2:glibc.malloc.tcache_count=0"),
        ("glibc.malloc.tcache_count=3", "glibc.malloc.tcache_count=3"),
        ("a=1:glibc.malloc.tcache_count=7:b=2", "a=1:glibc.malloc.tcache_count=7:b=2"),
    ],
)
def test_tcache_off_is_merged_and_never_overrides_the_users(tunables, merged):
    assert _glibc_malloc.with_tcache_off(tunables) == merged


@pytest.mark.parametrize("bad", [0, -1, True, "2", 2.0])
def test_a_bad_arena_cap_is_refused(bad):
    with pytest.raises(ValueError, match="arenas must be an integer >= 1"):
        _glibc_malloc.set_arena_max(bad)
