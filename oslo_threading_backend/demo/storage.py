"""SQLite connections and transactions, as every module of the demo uses them.

Each call opens its own connection, so every thread has its own: SQLite
connections must not be shared between threads, nor between a process and the
workers it forks. Connections are in autocommit mode and transactions are
explicit ``BEGIN IMMEDIATE`` ones: the write lock is taken at the start, so two
workers never both read a request as free and then both take it.
"""

from __future__ import annotations

from collections.abc import Iterator
import contextlib
import sqlite3

#: Seconds a connection waits for another one's lock before "database is locked".
LOCK_TIMEOUT = 10.0


@contextlib.contextmanager
def connect(path: str, timeout: float = LOCK_TIMEOUT) -> Iterator[sqlite3.Connection]:
    """A new connection to ``path`` (created if missing), closed on exit."""
    conn = sqlite3.connect(path, timeout=timeout, isolation_level=None)
    try:
        yield conn
    finally:
        conn.close()


@contextlib.contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``; ``ROLLBACK`` on an exception.

    The body may end the transaction itself with ``conn.execute("ROLLBACK")``.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    if conn.in_transaction:
        conn.execute("COMMIT")
