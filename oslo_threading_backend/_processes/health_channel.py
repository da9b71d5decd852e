"""Workers tell the master they are alive, started, or failed to start.

One pipe shared by every worker, made by the master before the first fork
(inherited with 'fork', passed by multiprocessing with 'spawn'). Each message
is one ``os.write()`` of a small record, below PIPE_BUF, so records from many
workers never interleave. The write end is non-blocking: a heartbeat that
finds the pipe full is dropped (the master is not reading, so it would not
see it anyway) instead of blocking the worker.

A shared flag also tells workers that the master's shutdown has begun: a
worker forked an instant before it does not start its service.
"""

from __future__ import annotations

import dataclasses
import multiprocessing.context
import os
import select
import struct
import threading
import time

BEAT = 1
STARTED = 2
BOOT_FAILED = 3

_HEADER = struct.Struct("<BIIH")  # kind, pid, worker number, payload length
MAX_TEXT = 1000  # bytes of a boot failure's cause; the record stays below PIPE_BUF
_REPORT_RETRY_FOR = 5.0  # seconds a STARTED or BOOT_FAILED record retries a full pipe


@dataclasses.dataclass(frozen=True)
class Record:
    kind: int
    pid: int
    worker_id: int
    text: str = ""


def encode(kind: int, pid: int, worker_id: int, text: str = "") -> bytes:
    payload = text.encode("utf-8", errors="replace")[:MAX_TEXT]
    return _HEADER.pack(kind, pid, worker_id, len(payload)) + payload


class HealthChannel:
    def __init__(self, mp_context: multiprocessing.context.BaseContext) -> None:
        self._reader, self._writer = mp_context.Pipe(duplex=False)
        os.set_blocking(self._writer.fileno(), False)
        os.set_blocking(self._reader.fileno(), False)
        self._shutdown = mp_context.Value("b", 0, lock=False)
        #: worker_hang_timeout, set by the master before it forks; 0: no heartbeat.
        self.hang_timeout = 0
        # Master side: bytes read but not yet a whole record; one reader at a time.
        self._pending = b""
        self._read_lock = threading.Lock()

    def __getstate__(self) -> dict:
        # Pickled for 'spawn' workers: the connections and the flag, no lock.
        return {
            "_reader": self._reader,
            "_writer": self._writer,
            "_shutdown": self._shutdown,
            "hang_timeout": self.hang_timeout,
        }

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._pending = b""
        self._read_lock = threading.Lock()

    # Worker side -----------------------------------------------------------
    def beat(self, worker_id: int) -> bool:
        """One heartbeat; False if it could not be written (pipe full or closed)."""
        try:
            os.write(self._writer.fileno(), encode(BEAT, os.getpid(), worker_id))
        except OSError:  # BlockingIOError: full; BrokenPipeError: the master is gone
            return False
        return True

    def report(self, kind: int, worker_id: int, text: str = "") -> bool:
        """A STARTED or BOOT_FAILED record; retries a full pipe for a few seconds."""
        record = encode(kind, os.getpid(), worker_id, text)
        deadline = time.monotonic() + _REPORT_RETRY_FOR
        while True:
            try:
                os.write(self._writer.fileno(), record)
                return True
            except BlockingIOError:
                if time.monotonic() > deadline:
                    return False
                time.sleep(0.01)
            except OSError:
                return False

    def shutdown_begun(self) -> bool:
        return bool(self._shutdown.value)

    # Master side -----------------------------------------------------------
    def begin_shutdown(self) -> None:
        self._shutdown.value = 1

    def readable(self, timeout: float | None) -> bool:
        """Whether records wait to be read, within ``timeout`` seconds (None: no limit)."""
        return bool(select.select([self._reader.fileno()], [], [], timeout)[0])

    def receive(self, timeout: float | None) -> list[Record]:
        """Records that arrived within ``timeout`` seconds (None: until one does).

        Waits without the lock: a drain from another thread reads at once.
        """
        fd = self._reader.fileno()
        if not select.select([fd], [], [], timeout)[0]:
            return []
        with self._read_lock:
            data = self._pending
            while True:
                try:
                    chunk = os.read(fd, 65536)
                except (BlockingIOError, InterruptedError):
                    break
                if not chunk:
                    break
                data += chunk
            records, self._pending = _decode(data)
            return records


def _decode(data: bytes) -> tuple[list[Record], bytes]:
    records = []
    offset = 0
    while len(data) - offset >= _HEADER.size:
        kind, pid, worker_id, length = _HEADER.unpack_from(data, offset)
        end = offset + _HEADER.size + length
        if end > len(data):
            break
        text = data[offset + _HEADER.size : end].decode("utf-8", errors="replace")
        records.append(Record(kind, pid, worker_id, text))
        offset = end
    return records, data[offset:]
