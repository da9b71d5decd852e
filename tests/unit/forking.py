"""Run a function in a real forked child and get its report back (fork-safety tests)."""

from collections.abc import Callable
import os
import select
import time
import warnings


def run_in_child(body: Callable[[], str], timeout: float = 10.0) -> str:
    """Fork; return the string ``body()`` returned in the child, sent through a pipe.

    A body that raises reports ``"error: <Type>: <message>"``. The child is
    always reaped, and killed if it outlives ``timeout``.
    """
    read_fd, write_fd = os.pipe()
    with warnings.catch_warnings():
        # 3.12+: "This process is multi-threaded, use of fork() may lead to deadlocks".
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        code = 0
        try:
            os.close(read_fd)
            report = body()
        except BaseException as exc:
            report, code = f"error: {type(exc).__name__}: {exc}", 1
        try:
            os.write(write_fd, report.encode())
        finally:
            os._exit(code)
    os.close(write_fd)
    try:
        chunks = []
        deadline = time.monotonic() + timeout
        while True:
            ready, _, _ = select.select([read_fd], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                raise AssertionError("the child did not report in time")
            chunk = os.read(read_fd, 4096)
            if not chunk:
                return b"".join(chunks).decode()
            chunks.append(chunk)
    finally:
        os.close(read_fd)
        _reap(pid, timeout)


def _reap(pid: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while os.waitpid(pid, os.WNOHANG) == (0, 0):
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            return
        select.select([], [], [], 0.01)
