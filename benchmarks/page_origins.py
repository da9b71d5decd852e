"""Where a forked worker's memory comes from, page by page: shared, copied, or new.

``python benchmarks/page_origins.py MASTER_PID`` prints, for each worker of that
master (its children), the resident pages of its writable anonymous mappings
and its ``[heap]``, by origin, found by comparing physical frame numbers
(``/proc/PID/pagemap``) with the master's and another worker's at the same
address:

- ``shared``: the master's page, still shared (not in the worker's USS);
- ``copied by all``: the worker and another worker wrote it, each has a copy;
- ``copied, this worker only``: written by this worker only, or by the master
  after this worker's fork but before the next one's (the worker keeps the
  original, alone);
- ``copied by the master``: the workers still share the original;
- ``new``: no page of the master's at that address (the worker's own memory).

A worker's USS is about ``copied by all + copied, this worker only + new``.
Reading frame numbers needs CAP_SYS_ADMIN (root): without it the kernel reports
them as 0 and this script says so. Used for issue 18's field measurements, see
doc/source/benchmarks.rst, "Where a worker's private pages come from".
"""

from __future__ import annotations

import argparse
import collections
from collections.abc import Iterator
import os
import struct
import sys

PAGE = os.sysconf("SC_PAGE_SIZE")
_PRESENT = 1 << 63
_PFN_MASK = (1 << 55) - 1

SHARED = "shared"
COPIED_ALL = "copied by all"
COPIED_ONE = "copied, this worker only"
COPIED_MASTER = "copied by the master"
NEW = "new"
ORIGINS = (SHARED, COPIED_ALL, COPIED_ONE, COPIED_MASTER, NEW)


def origin(mine: int, master: int | None, other: int | None) -> str:
    """The origin of one resident page, from the frame numbers at its address."""
    if master is None:
        return NEW
    if mine == master:
        return SHARED
    if other == master:
        return COPIED_ONE
    if other == mine:
        return COPIED_MASTER
    return COPIED_ALL


def _mappings(pid: int) -> Iterator[tuple[int, int, str]]:
    """(start, end, kind) of the writable anonymous mappings and the heap."""
    with open(f"/proc/{pid}/maps") as maps:
        for line in maps:
            fields = line.split()
            name = fields[5] if len(fields) > 5 else ""
            if "w" not in fields[1] or name not in ("", "[heap]"):
                continue
            start, end = (int(x, 16) for x in fields[0].split("-"))
            yield start, end, "heap" if name else "anonymous"


def _frames(pagemap, start: int, end: int) -> list[int | None]:
    pagemap.seek(start // PAGE * 8)
    data = pagemap.read((end - start) // PAGE * 8)
    return [e & _PFN_MASK if e & _PRESENT else None for (e,) in struct.iter_unpack("<Q", data)]


def classify(
    worker: int, master: int, other: int, within: tuple[int, int] | None = None
) -> collections.Counter:
    """Pages of ``worker`` by (kind, origin); only those in [start, end) of ``within``."""
    counts: collections.Counter = collections.Counter()
    with (
        open(f"/proc/{worker}/pagemap", "rb") as mine,
        open(f"/proc/{master}/pagemap", "rb") as theirs,
        open(f"/proc/{other}/pagemap", "rb") as sibling,
    ):
        for start, end, kind in _mappings(worker):
            if within:
                start, end = max(start, within[0]), min(end, within[1])
                if start >= end:
                    continue
            pages = zip(
                _frames(mine, start, end),
                _frames(theirs, start, end),
                _frames(sibling, start, end),
                strict=True,
            )
            for frame, master_frame, other_frame in pages:
                if frame is not None:
                    counts[kind, origin(frame, master_frame, other_frame)] += 1
    return counts


def children(pid: int) -> list[int]:
    """The master's child processes (its workers)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue  # gone meanwhile
            if ppid == pid:
                found.append(int(entry))
    return sorted(found)


def frames_readable(pid: int) -> bool:
    """Whether the kernel shows this process the frame numbers (not 0) of ``pid``'s pages."""
    with open(f"/proc/{pid}/pagemap", "rb") as pagemap:
        for start, end, _kind in _mappings(pid):
            present = [f for f in _frames(pagemap, start, end) if f is not None]
            if present:
                return any(present)
    return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("master", type=int, help="the master's pid")
    args = parser.parse_args(argv)
    workers = children(args.master)
    if len(workers) < 2:
        parser.error(f"pid {args.master} has {len(workers)} children; 2 or more are needed")
    if not frames_readable(args.master):
        print("frame numbers read as 0: run as root (CAP_SYS_ADMIN)", file=sys.stderr)
        return 2
    for i, worker in enumerate(workers):
        counts = classify(worker, args.master, workers[i - 1] if i else workers[1])
        print(f"worker {worker}:")
        for name in ORIGINS:
            per_kind = {k: n for (k, o), n in counts.items() if o == name}
            mib = sum(per_kind.values()) * PAGE / 2**20
            detail = ", ".join(f"{k} {n * PAGE / 2**20:.1f}" for k, n in sorted(per_kind.items()))
            print(f"  {name:26s} {mib:6.1f} MiB  ({detail})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
