"""benchmarks/page_origins.py tells a worker's copied pages from its shared and new ones.

Checked on real forked processes against the kernel's pagemap (needs the frame
numbers, which the kernel shows root only; skipped otherwise).
"""

import os
import pathlib
import signal
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "benchmarks"))

import page_origins  # noqa: E402


def test_origin_of_a_page_from_its_frames():
    assert page_origins.origin(5, None, None) == page_origins.NEW
    assert page_origins.origin(5, 5, 5) == page_origins.SHARED
    assert page_origins.origin(6, 5, 5) == page_origins.COPIED_ONE
    assert page_origins.origin(6, 5, 6) == page_origins.COPIED_MASTER
    assert page_origins.origin(6, 5, 7) == page_origins.COPIED_ALL


def _fork_child(work, ready_w):
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            work()
            os.write(ready_w, b"x")
            signal.pause()
        finally:
            os._exit(0)
    return pid


@pytest.mark.skipif(
    not os.path.exists("/proc/self/pagemap") or not page_origins.frames_readable(os.getpid()),
    reason="the kernel shows frame numbers to root only",
)
def test_pages_one_worker_wrote_are_its_copies_and_the_rest_shared():
    # Anonymous pages of this process, resident before the forks (mmap'd, not
    # the heap: the test's own allocations elsewhere do not touch them).
    import ctypes
    import mmap

    pages = 256
    size = pages * page_origins.PAGE
    area = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    area.write(b"\1" * size)
    start = ctypes.addressof(ctypes.c_char.from_buffer(area))
    within = (start, start + size)
    ready_r, ready_w = os.pipe()
    writer = reader = None
    try:

        def write_half():
            for i in range(pages // 2):
                area[i * page_origins.PAGE] = 2

        writer = _fork_child(write_half, ready_w)
        reader = _fork_child(lambda: None, ready_w)
        assert len(os.read(ready_r, 1) + os.read(ready_r, 1)) == 2
        mine = page_origins.classify(writer, os.getpid(), reader, within)
        theirs = page_origins.classify(reader, os.getpid(), writer, within)
    finally:
        for pid in (writer, reader):
            if pid:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
        os.close(ready_r)
        os.close(ready_w)
        area.close()
    assert mine == {
        ("anonymous", page_origins.COPIED_ONE): pages // 2,
        ("anonymous", page_origins.SHARED): pages // 2,
    }, mine
    assert theirs == {("anonymous", page_origins.SHARED): pages}, theirs
