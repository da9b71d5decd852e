"""Start a real service program, read its events, titles and logs, send it signals.

Nothing here mocks cotyledon: the program forks real workers, titles are
read from /proc, and every wait polls with a deadline.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import re
import signal
import subprocess
import sys
import time

PROGRAMS = pathlib.Path(__file__).parent / "programs"
DEFAULT_TIMEOUT = 20.0


class Timeout(AssertionError):
    pass


def poll(predicate, timeout=DEFAULT_TIMEOUT, interval=0.02, what="condition"):
    """Return predicate()'s first truthy value, or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise Timeout(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def process_title(pid: int) -> str | None:
    try:
        raw = pathlib.Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()


def _stat_fields(pid: int) -> list[str] | None:
    try:
        stat = pathlib.Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return stat[stat.rindex(")") + 2 :].split()


def is_alive(pid: int) -> bool:
    """True while the process exists and is not a zombie."""
    fields = _stat_fields(pid)
    return fields is not None and fields[0] != "Z"


def children(pid: int) -> list[int]:
    found = []
    for entry in pathlib.Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields is not None and int(fields[1]) == pid and fields[0] != "Z":
                found.append(int(entry.name))
    return found


class Event(dict):
    @property
    def name(self) -> str:
        return self["_name"]

    @property
    def pid(self) -> int:
        return int(self["pid"])


class ServiceProcess:
    """One run of a program under tests/functional/programs."""

    def __init__(self, workdir: pathlib.Path, program: str = "service_app.py") -> None:
        self.workdir = workdir
        self.program = PROGRAMS / program
        self.events_path = workdir / "events.txt"
        self.log_path = workdir / "output.log"
        self.config_path = workdir / "service.conf"
        self.popen: subprocess.Popen | None = None
        self._seen_pids: set[int] = set()

    def write_config(self, **sections: dict) -> None:
        lines = []
        for section, values in sections.items():
            lines.append(f"[{section}]")
            lines.extend(f"{k} = {v}" for k, v in values.items())
        self.config_path.write_text("\n".join(lines) + "\n")

    def start(self, *args: str, config: dict | None = None) -> ServiceProcess:
        self.write_config(**(config or {"DEFAULT": {"graceful_shutdown_timeout": 10}}))
        cmd = [
            sys.executable,
            str(self.program),
            "--events",
            str(self.events_path),
            "--config-file",
            str(self.config_path),
            "--debug",
            *args,
        ]
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        with open(self.log_path, "wb") as log:
            self.popen = subprocess.Popen(
                cmd,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
            )
        self._seen_pids.add(self.popen.pid)
        return self

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    # Reading -------------------------------------------------------------
    def events(self, name: str | None = None, **match: str) -> list[Event]:
        try:
            lines = self.events_path.read_text().splitlines()
        except FileNotFoundError:
            return []
        found = []
        for line in lines:
            head, *pairs = line.split()
            event = Event(pair.split("=", 1) for pair in pairs)
            event["_name"] = head
            if name is not None and head != name:
                continue
            if all(event.get(k) == str(v) for k, v in match.items()):
                found.append(event)
        return found

    def wait_for_events(
        self, name: str, count: int = 1, timeout: float = DEFAULT_TIMEOUT, **match
    ) -> list[Event]:
        def enough():
            self._fail_if_exited_early()
            found = self.events(name, **match)
            return found if len(found) >= count else None

        return poll(enough, timeout, what=f"{count} {name!r} event(s) {match or ''}")

    def _fail_if_exited_early(self) -> None:
        if self.popen is not None and self.popen.poll() is not None:
            raise AssertionError(
                f"service exited with {self.popen.returncode} too early; log:\n{self.log()}"
            )

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_for_log(self, pattern: str, timeout: float = DEFAULT_TIMEOUT) -> re.Match:
        regex = re.compile(pattern)
        return poll(lambda: regex.search(self.log()), timeout, what=f"log line /{pattern}/")

    def workers(self) -> dict[int, int]:
        """{worker number: pid} of the live workers, read from their process titles."""
        found = {}
        for pid in children(self.pid):
            title = process_title(pid) or ""
            match = re.search(r"ServiceWrapper worker\((\d+)\)", title)
            if match:
                found[int(match.group(1))] = pid
                self._seen_pids.add(pid)
        return found

    def wait_for_workers(self, count: int, timeout: float = DEFAULT_TIMEOUT) -> dict[int, int]:
        return self.wait_for_workers_matching(lambda w: len(w) == count, timeout)

    def wait_for_workers_matching(
        self, predicate, timeout: float = DEFAULT_TIMEOUT
    ) -> dict[int, int]:
        def ready():
            self._fail_if_exited_early()
            workers = self.workers()
            return workers if predicate(workers) else None

        return poll(ready, timeout, what="workers matching the predicate")

    # Acting --------------------------------------------------------------
    def send(self, sig: int, pid: int | None = None) -> None:
        os.kill(self.pid if pid is None else pid, sig)

    def wait_exit(self, timeout: float = DEFAULT_TIMEOUT) -> int:
        assert self.popen is not None
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            raise Timeout(f"service did not exit within {timeout} s; log:\n{self.log()}") from None

    def wait_gone(self, pids, timeout: float = DEFAULT_TIMEOUT) -> None:
        poll(
            lambda: not any(is_alive(p) for p in pids),
            timeout,
            what=f"processes {sorted(pids)} to end",
        )

    def kill_all(self) -> None:
        """End every process this run started, whatever state the test left it in."""
        if self.popen is None:
            return
        pids = set(self._seen_pids) | set(children(self.pid))
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(10)
