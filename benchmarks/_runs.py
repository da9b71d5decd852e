"""One fresh benchmark process of one variant, and what is read from /proc about it.

Used by bench_backends.py and _growth.py. Every run is started in its own process
group (the master leads it; workers inherit it), which is killed when the run ends.
"""

import contextlib
import json
import os
import pathlib
import select
import signal
import socket
import subprocess
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parent
START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0


class RunFailed(Exception):
    pass


class Run:
    """One fresh variant process; its process group is always killed at the end."""

    def __init__(
        self,
        variant,
        mode,
        log_dir,
        workers=2,
        probe_seconds=10.0,
        env=None,
        program=None,
        package_dir=None,
    ):
        """``program``: the argv after the interpreter (default: _variant.py VARIANT MODE);
        ``package_dir``: first on PYTHONPATH, where oslo_threading_backend comes from
        (default: this checkout)."""
        self.variant = variant
        self.mode = mode
        self.program = program or [str(HERE / "_variant.py"), variant, mode]
        self.workers = workers
        self.log_path = pathlib.Path(log_dir) / f"{variant}-{mode}-{time.monotonic_ns()}.log"
        self.events = []
        self.ready_at = None  # when READY=1 came on the NOTIFY_SOCKET
        self.worker_pids = []
        self._probe_seconds = probe_seconds
        self._extra_env = dict(env or {})
        self._package_dir = str(package_dir or REPO)
        self._buffer = b""
        self._read_fd = None
        self._notify = None
        self._notify_path = pathlib.Path(log_dir) / f"notify-{time.monotonic_ns()}.sock"
        self.proc = None
        self.started_at = None

    def __enter__(self):
        read_fd, write_fd = os.pipe()
        self._read_fd = read_fd
        # systemd's side of sd_notify: the master says READY=1 here.
        self._notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._notify.bind(str(self._notify_path))
        env = dict(
            os.environ,
            BENCH_REPORT_FD=str(write_fd),
            BENCH_PROBE_SECONDS=str(self._probe_seconds),
            BENCH_WORKERS=str(self.workers),
            NOTIFY_SOCKET=str(self._notify_path),
            PYTHONUNBUFFERED="1",
            **self._extra_env,
        )
        first = (self._package_dir, str(REPO), env.get("PYTHONPATH", ""))
        env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(p for p in first if p))
        with open(self.log_path, "wb") as log:
            self.started_at = time.monotonic()
            self.proc = subprocess.Popen(
                [sys.executable, *self.program],
                cwd=str(REPO),
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                pass_fds=(write_fd,),
                start_new_session=True,
            )
        os.close(write_fd)
        return self

    def __exit__(self, *exc_info):
        # The master is its own process group leader (start_new_session); workers
        # inherit the group, so one killpg reaches everything that is left.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)
        os.close(self._read_fd)
        self._notify.close()
        with contextlib.suppress(OSError):
            self._notify_path.unlink()
        return False

    def _read(self, timeout):
        ready, _, _ = select.select([self._read_fd, self._notify], [], [], max(0.0, timeout))
        if not ready:
            return False
        if self._notify in ready:
            message = self._notify.recv(4096)
            if self.ready_at is None and b"READY=1" in message.split(b"\n"):
                self.ready_at = time.monotonic()
            if self._read_fd not in ready:
                return True
        chunk = os.read(self._read_fd, 65536)
        if not chunk:
            return None  # every writer is gone
        self._buffer += chunk
        *lines, self._buffer = self._buffer.split(b"\n")
        self.events.extend(json.loads(line) for line in lines if line.strip())
        return True

    def wait_for(self, predicate, timeout, what):
        deadline = time.monotonic() + timeout
        while True:
            found = predicate(self.events)
            if found:
                return found
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._read(min(remaining, 0.5)) is None:
                if predicate(self.events):
                    return predicate(self.events)
                raise RunFailed(f"{self.variant} {self.mode}: no {what} within {timeout} s")

    def drain(self, seconds):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self._read(deadline - time.monotonic()) is None:
                return

    def of(self, event):
        return [e for e in self.events if e["event"] == event]

    def wait_serving(self):
        def all_serving(events):
            serving = [e for e in events if e["event"] == "serving"]
            return serving if len({e["pid"] for e in serving}) >= self.workers else None

        serving = self.wait_for(all_serving, START_TIMEOUT, f"{self.workers} serving workers")
        self.worker_pids = sorted({e["pid"] for e in serving})
        return max(e["t"] for e in serving) - self.started_at

    def wait_ready(self):
        """Start to READY=1 (oslo.service's backends send it before any worker is up:
        theirs counts until READY=1 came and every worker serves, whichever is later)."""
        serving = self.wait_serving()
        self.wait_for(lambda _events: self.ready_at is not None, START_TIMEOUT, "READY=1")
        return max(serving, self.ready_at - self.started_at)

    def sigterm_to_gone(self):
        """Seconds from SIGTERM to the master until the master and every worker exited."""
        pidfds = []
        for pid in [self.proc.pid, *self.worker_pids]:
            with contextlib.suppress(ProcessLookupError):
                pidfds.append(os.pidfd_open(pid))
        try:
            started = time.monotonic()
            os.kill(self.proc.pid, signal.SIGTERM)
            waiting = set(pidfds)
            deadline = started + STOP_TIMEOUT
            while waiting:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise RunFailed(
                        f"{self.variant} {self.mode}: still running {STOP_TIMEOUT} s after SIGTERM"
                    )
                ready, _, _ = select.select(list(waiting), [], [], remaining)
                waiting.difference_update(ready)
            gone = time.monotonic() - started
        finally:
            for fd in pidfds:
                os.close(fd)
        self.proc.wait(timeout=STOP_TIMEOUT)
        self.drain(0.5)
        return gone

    def tail(self, lines=20):
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""


def memory_of(pid):
    """RSS, PSS and USS in MiB from /proc/<pid>/smaps_rollup, and the thread count."""
    fields = {}
    with open(f"/proc/{pid}/smaps_rollup") as rollup:
        for line in rollup:
            parts = line.split()
            if len(parts) >= 3 and parts[1].isdigit():
                fields[parts[0].rstrip(":")] = int(parts[1])
    with open(f"/proc/{pid}/status") as status:
        threads = next(int(line.split()[1]) for line in status if line.startswith("Threads:"))
    mib = 1024.0
    return {
        "rss": fields["Rss"] / mib,
        "pss": fields["Pss"] / mib,
        "uss": (fields.get("Private_Clean", 0) + fields.get("Private_Dirty", 0)) / mib,
        "threads": threads,
    }
