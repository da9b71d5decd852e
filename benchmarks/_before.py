"""This package as it was before a change, for the scheduler step's speed targets.

Throughput and p99 latency are judged against *ours before the change*. A figure
stored on another day compares two machines as busy as they happened to be (on
2 shared cores that moved the same code's throughput 2x); running the old code
beside the new in the same rounds does not. So the step runs ours once more per
round from a copy of the package at the baseline's commit
(``scheduler_baseline.json``: ``package_commit``, the last commit that changed
``oslo_threading_backend/`` when the baseline was stored), taken with
``git archive`` into a temporary directory.

``BENCH_SCHED_BEFORE``: unset, the baseline's commit; ``0``, never (the stored
figures are used); a directory holding an ``oslo_threading_backend`` package; or
any git revision.
"""

from __future__ import annotations

import atexit
import os
import pathlib
import shutil
import subprocess
import tempfile

REPO = pathlib.Path(__file__).resolve().parent.parent
PACKAGE = "oslo_threading_backend"


def _git(*args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(REPO), *args], capture_output=True, text=True, check=True
    ).stdout.strip()


def package_commit() -> str | None:
    """The last commit that changed the package (what a baseline was measured on)."""
    try:
        return _git("log", "-1", "--format=%H", "--", PACKAGE) or None
    except (OSError, subprocess.CalledProcessError):
        return None


def unchanged_since(revision: str) -> bool:
    """Whether the package here (committed and in the work tree) is the one at ``revision``."""
    try:
        same = _git("rev-parse", f"{revision}:{PACKAGE}") == _git("rev-parse", f"HEAD:{PACKAGE}")
        return same and not _git("status", "--porcelain", "--", PACKAGE)
    except (OSError, subprocess.CalledProcessError):
        return False


def _archive(revision: str) -> str:
    directory = tempfile.mkdtemp(prefix="bench-before-")
    atexit.register(shutil.rmtree, directory, True)
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", revision, PACKAGE],
        capture_output=True,
        check=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", directory], input=archive, check=True)
    return directory


def resolve(setting: str | None, baseline: dict | None) -> tuple[str | None, str, bool]:
    """(directory of the package before the change or None, why, whether the package
    is the baseline's own: then there is no change to measure)."""
    if setting == "0":
        return None, "BENCH_SCHED_BEFORE=0: the stored baseline's figures", False
    if setting and os.path.isdir(setting):
        if not os.path.isfile(os.path.join(setting, PACKAGE, "__init__.py")):
            raise SystemExit(f"BENCH_SCHED_BEFORE={setting!r}: no {PACKAGE} package there")
        return setting, f"ours before from {setting}", False
    revision = setting or (baseline or {}).get("package_commit")
    if not revision:
        return None, "no baseline commit: the stored baseline's figures", False
    if not setting and unchanged_since(revision):
        return None, f"the package is the baseline's ({revision[:10]}): no change", True
    try:
        return _archive(revision), f"ours before from {revision[:10]} (git archive)", False
    except (OSError, subprocess.CalledProcessError) as exc:
        raise SystemExit(f"BENCH_SCHED_BEFORE: cannot take {PACKAGE} at {revision!r}: {exc}")
