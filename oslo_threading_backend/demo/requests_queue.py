"""The request queue: one SQLite file that ``demo-submit`` fills and the workers drain.

A request is ``queued``, then ``claimed`` by one worker thread, then ``done``
with its decision (cell and host). A claim records its owner's pid, a random
token and a lease expiry. ``take()`` first returns to the queue every claim
whose owner process is gone (a worker killed mid-request) or whose lease
expired (a worker stuck too long). A stale owner that wakes up later cannot
finish the request: ``mark_done()`` matches the token, which is gone.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from typing import NamedTuple
import uuid

from oslo_threading_backend.demo import storage

LOG = logging.getLogger(__name__)

QUEUE_FILE = "requests.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS requests (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    state TEXT NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'claimed', 'done')),
    submitted_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    -- While claimed: who holds it, which claim it is, and until when (time.time()).
    owner_pid INTEGER,
    token TEXT,
    lease_expires REAL,
    -- Once done: where it was placed (NULL: no host had a free slot), by whom.
    cell TEXT,
    host TEXT,
    scheduled_by INTEGER,
    scheduled_at REAL
)
"""
_UNCLAIM = "state = 'queued', owner_pid = NULL, token = NULL, lease_expires = NULL"


class Request(NamedTuple):
    id: int
    token: str
    attempt: int


def queue_path(state_dir: str) -> str:
    return os.path.join(state_dir, QUEUE_FILE)


def create_queue(path: str) -> None:
    """Create the queue's database if needed."""
    with storage.connect(path) as conn, storage.transaction(conn):
        conn.execute(_SCHEMA)
        conn.execute("CREATE INDEX IF NOT EXISTS requests_by_state ON requests (state, id)")


def submit(path: str, count: int) -> list[int]:
    """Queue ``count`` new requests; returns their ids."""
    now = time.time()
    with storage.connect(path) as conn, storage.transaction(conn):
        return [
            conn.execute("INSERT INTO requests (submitted_at) VALUES (?)", (now,)).lastrowid
            for _ in range(count)
        ]


def count_by_state(path: str) -> dict[str, int]:
    with storage.connect(path) as conn:
        return dict(conn.execute("SELECT state, count(*) FROM requests GROUP BY state"))


def take(path: str, lease_seconds: float) -> Request | None:
    """Claim the oldest queued request for this process, or return None if there is none."""
    now = time.time()
    with storage.connect(path) as conn, storage.transaction(conn):
        _release_abandoned(conn, now)
        row = conn.execute(
            "SELECT id, attempts FROM requests WHERE state = 'queued' ORDER BY id LIMIT 1"
        ).fetchone()
        if row is None:
            return None
        request = Request(row[0], uuid.uuid4().hex, row[1] + 1)
        conn.execute(
            "UPDATE requests SET state = 'claimed', owner_pid = ?, token = ?, "
            "lease_expires = ?, attempts = ? WHERE id = ?",
            (os.getpid(), request.token, now + lease_seconds, request.attempt, request.id),
        )
        return request


def _release_abandoned(conn: sqlite3.Connection, now: float) -> None:
    claims = conn.execute(
        "SELECT id, owner_pid, lease_expires FROM requests WHERE state = 'claimed'"
    ).fetchall()
    for request_id, pid, lease_expires in claims:
        if lease_expires < now:
            reason = "its lease expired"
        elif not _process_exists(pid):
            reason = "that process is gone"
        else:
            continue
        conn.execute(f"UPDATE requests SET {_UNCLAIM} WHERE id = ?", (request_id,))
        LOG.warning(
            "Request %d was claimed by pid %d and %s: it is back in the queue",
            request_id,
            pid,
            reason,
        )


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: the pid was reused, wait for the lease
    return True


def release(path: str, request: Request) -> bool:
    """Give a claimed request back to the queue; False if this claim was already lost."""
    with storage.connect(path) as conn, storage.transaction(conn):
        cursor = conn.execute(
            f"UPDATE requests SET {_UNCLAIM} WHERE id = ? AND token = ?",
            (request.id, request.token),
        )
        return cursor.rowcount == 1


def mark_done(
    conn: sqlite3.Connection, request: Request, cell: str | None, host: str | None
) -> bool:
    """Record the decision, inside the caller's transaction; False if the claim was lost."""
    cursor = conn.execute(
        "UPDATE requests SET state = 'done', cell = ?, host = ?, scheduled_by = ?, "
        "scheduled_at = ?, owner_pid = NULL, token = NULL, lease_expires = NULL "
        "WHERE id = ? AND token = ?",
        (cell, host, os.getpid(), time.time(), request.id, request.token),
    )
    return cursor.rowcount == 1
