"""A RabbitMQ broker of the test run's own: free ports on 127.0.0.1, its own node and dirs.

Nothing is shared with a system broker: the node name, the AMQP port, the Erlang
distribution port and the Erlang port mapper (epmd, on a port of its own and started
here as a child, so it is ended here too) are all the run's own, and so are the
data, log and config files, under one temporary directory. Every wait has a
deadline; ``close()`` ends every process the broker started, even after a failure.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import time

#: Where Debian's rabbitmq-server package puts the real start script. /usr/sbin's
#: wrapper re-runs it through ``su rabbitmq`` (root) or refuses (anyone else).
DEBIAN_SERVER_SCRIPT = "/usr/lib/rabbitmq/bin/rabbitmq-server"
START_TIMEOUT = 90.0
STOP_TIMEOUT = 30.0
#: The AMQP 0-9-1 protocol header; a broker that accepts connections answers
#: it with a Connection.Start method frame (frame type 1).
_AMQP_HEADER = b"AMQP\x00\x00\x09\x01"


class BrokerError(RuntimeError):
    """The broker could not be started (the log's tail is in the message)."""


def find_server_script() -> str | None:
    """The rabbitmq-server start script, or None when RabbitMQ is not installed."""
    if os.access(DEBIAN_SERVER_SCRIPT, os.X_OK):
        return DEBIAN_SERVER_SCRIPT
    found = shutil.which("rabbitmq-server")
    if found is None or os.path.realpath(found) == "/usr/sbin/rabbitmq-server":
        return None  # Debian's su wrapper: not usable with our environment
    return found


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def accepts_amqp(port: int, timeout: float = 1.0) -> bool:
    """Whether a broker on ``port`` answers the AMQP protocol header."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(_AMQP_HEADER)
            return s.recv(1)[:1] == b"\x01"
    except OSError:
        return False


def _pids_of_session(sid: int) -> list[int]:
    """Live processes of session ``sid`` (beam and its port programs), read from /proc."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = pathlib.Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # Fields after "(comm)": state ppid pgrp session ...
        fields = stat.rpartition(")")[2].split()
        if int(fields[3]) == sid and fields[0] != "Z":
            found.append(int(entry))
    return found


class RabbitBroker:
    """One RabbitMQ node: ``start()``, ``restart()``, ``close()``; ``url`` for oslo.messaging."""

    def __init__(self, basedir: pathlib.Path, script: str) -> None:
        self.basedir = pathlib.Path(basedir)
        self.script = script
        self.port = free_port()
        self.dist_port = free_port()
        self.epmd_port = free_port()
        self.nodename = f"otb-integration-{os.getpid()}@localhost"
        self.log_dir = self.basedir / "log"
        self._server: subprocess.Popen[bytes] | None = None
        self._epmd: subprocess.Popen[bytes] | None = None
        self._write_files()

    @property
    def url(self) -> str:
        return f"rabbit://guest:guest@127.0.0.1:{self.port}/"

    def _write_files(self) -> None:
        for name in ("mnesia", "log", "home", "plugins-expand"):
            (self.basedir / name).mkdir(parents=True, exist_ok=True)
        # guest may log in from 127.0.0.1 only, which is where we are.
        (self.basedir / "rabbitmq.conf").write_text(
            f"listeners.tcp.default = 127.0.0.1:{self.port}\n"
            "disk_free_limit.absolute = 10MB\n"
            "log.console = false\n"
            "log.file.level = info\n"
        )
        (self.basedir / "enabled_plugins").write_text("[].\n")
        (self.basedir / "rabbitmq-env.conf").write_text("")

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("RABBITMQ_")}
        env.pop("NOTIFY_SOCKET", None)  # the script would exec erl as if under systemd
        env.update(
            HOME=str(self.basedir / "home"),  # the Erlang cookie goes there
            RABBITMQ_NODENAME=self.nodename,
            RABBITMQ_NODE_IP_ADDRESS="127.0.0.1",
            RABBITMQ_NODE_PORT=str(self.port),
            RABBITMQ_DIST_PORT=str(self.dist_port),
            ERL_EPMD_PORT=str(self.epmd_port),
            ERL_EPMD_ADDRESS="127.0.0.1",
            RABBITMQ_CONF_ENV_FILE=str(self.basedir / "rabbitmq-env.conf"),
            RABBITMQ_CONFIG_FILE=str(self.basedir / "rabbitmq.conf"),
            RABBITMQ_ADVANCED_CONFIG_FILE=str(self.basedir / "advanced.config"),
            RABBITMQ_ENABLED_PLUGINS_FILE=str(self.basedir / "enabled_plugins"),
            RABBITMQ_MNESIA_BASE=str(self.basedir / "mnesia"),
            RABBITMQ_LOG_BASE=str(self.log_dir),
            RABBITMQ_PLUGINS_EXPAND_DIR=str(self.basedir / "plugins-expand"),
            RABBITMQ_PID_FILE=str(self.basedir / "rabbitmq.pid"),
        )
        return env

    # Start and stop -----------------------------------------------------------
    def start(self, timeout: float = START_TIMEOUT) -> None:
        """Start epmd (once) and the node; return when it accepts AMQP connections."""
        env = self._env()
        if self._epmd is None or self._epmd.poll() is not None:
            # Our own epmd, in the foreground: erl finds it on ERL_EPMD_PORT and does
            # not start a daemon one that would outlive the run.
            self._epmd = subprocess.Popen(
                ["epmd", "-port", str(self.epmd_port), "-address", "127.0.0.1"],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            self._wait(lambda: _port_open(self.epmd_port), 10.0, "epmd to listen")
        with open(self.basedir / "server.out", "ab") as out:
            self._server = subprocess.Popen(
                [self.script],
                env=env,
                cwd=self.basedir,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._wait(lambda: accepts_amqp(self.port), timeout, "the broker to accept AMQP")

    def _wait(self, ready, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            if self._server is not None and self._server.poll() is not None:
                raise BrokerError(
                    f"rabbitmq-server exited with {self._server.returncode} before "
                    f"{what}:\n{self.log_tail()}"
                )
            if time.monotonic() > deadline:
                raise BrokerError(
                    f"timed out after {timeout} s waiting for {what}:\n{self.log_tail()}"
                )
            time.sleep(0.1)

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Stop the node (SIGTERM: a clean shutdown, clients see their connections close).

        Whatever is left of its session at the deadline is killed. epmd keeps running
        for a ``start()`` again; ``close()`` ends it.
        """
        server, self._server = self._server, None
        if server is None:
            return
        _end_session(server, timeout)

    def restart(self) -> None:
        """Stop the node and start it again on the same ports, node name and data."""
        self.stop()
        self.start()

    def close(self) -> None:
        """End the node and epmd, whatever state they are in."""
        try:
            self.stop()
        finally:
            epmd, self._epmd = self._epmd, None
            if epmd is not None:
                _end_session(epmd, 5.0)

    def log_tail(self, lines: int = 40) -> str:
        text = []
        for path in [self.basedir / "server.out", *sorted(self.log_dir.glob("*.log"))]:
            with contextlib.suppress(OSError):
                content = path.read_text(errors="replace").splitlines()[-lines:]
                text.append(f"--- {path.name}\n" + "\n".join(content))
        return "\n".join(text)


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _end_session(popen: subprocess.Popen[bytes], timeout: float) -> None:
    """SIGTERM the session ``popen`` leads; SIGKILL what is left at the deadline; reap."""
    sid = popen.pid
    with contextlib.suppress(ProcessLookupError):
        os.killpg(sid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if popen.poll() is not None and not _pids_of_session(sid):
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(sid, signal.SIGKILL)
    for pid in _pids_of_session(sid):  # a member that left the process group
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        popen.wait(5)
