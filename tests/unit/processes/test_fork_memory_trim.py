"""Before forking the master gives its allocator's free pages back to the kernel, once a batch.

A forked worker maps every page the master has resident, so free memory the
master still holds counts in every worker's RSS. Checked in a fresh interpreter
against the real glibc: memory freed below a live allocation (which glibc never
returns by itself) is returned by trim_free_memory().
"""

import os
import subprocess
import sys
import textwrap

import pytest


def _glibc():
    try:
        return bool(os.confstr("CS_GNU_LIBC_VERSION"))
    except (OSError, ValueError):
        return False


GLIBC = _glibc()


@pytest.mark.skipif(not GLIBC, reason="malloc_trim is glibc's")
def test_free_memory_below_a_live_block_is_returned():
    code = textwrap.dedent(
        """
        from oslo_threading_backend._processes import fork_guard as _fork_guard
        from oslo_threading_backend import process_stats

        def rss_kib():
            return process_stats.collect().rss_bytes // 1024

        # 1000-byte objects come from malloc (pymalloc takes up to 512 bytes).
        blocks = [bytes(1000) for _ in range(48 * 1024)]
        keep = bytes(1000)  # above them in the heap: glibc cannot shrink the top
        del blocks
        before = rss_kib()
        trimmed = _fork_guard.trim_free_memory()
        print(trimmed, before - rss_kib())
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout.split()
    assert out[0] == "True", out
    assert int(out[1]) > 20 * 1024, f"only {out[1]} KiB returned"


def test_forking_a_worker_trims_first(monkeypatch):
    from oslo_threading_backend._processes import fork_guard as _fork_guard

    calls = []
    monkeypatch.setattr(_fork_guard, "trim_free_memory", lambda: calls.append(1) or True)
    with _fork_guard.forking_worker():
        pass
    assert calls == [1]


def test_workers_forked_in_a_batch_are_prepared_for_once(monkeypatch):
    from oslo_threading_backend._processes import fork_guard as _fork_guard

    calls = []
    monkeypatch.setattr(_fork_guard, "trim_free_memory", lambda: calls.append("trim") or True)
    with _fork_guard.fork_batch():
        pass
    # A batch that forks nothing (cotyledon adjusts its workers at every SIGCHLD).
    assert calls == []
    with _fork_guard.fork_batch():
        with _fork_guard.fork_batch():
            for _ in range(3):
                with _fork_guard.forking_worker(lambda: calls.append("prepare")):
                    pass
    # The caller's preparation first: what its imports freed is trimmed too.
    assert calls == ["prepare", "trim"]
    # Outside a batch (a respawn), each fork is prepared for.
    for _ in range(2):
        with _fork_guard.forking_worker(lambda: calls.append("respawn")):
            pass
    assert calls[2:] == ["respawn", "trim", "respawn", "trim"]
