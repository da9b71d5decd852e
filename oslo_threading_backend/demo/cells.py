"""The cell databases: one SQLite file per cell, holding its hosts and their slots.

A request uses one slot of one host. ``host_states()`` is what the scheduler
scatter-gathers from every cell; ``take_slot()`` is the claim, run inside the
scheduler's transaction with the cell attached under the schema name ``cell``.
"""

from __future__ import annotations

import os
import sqlite3
from typing import NamedTuple

from oslo_threading_backend.demo import storage

#: Slots of each new host: requests each host can take.
HOST_SLOTS = 1000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS hosts (
    name TEXT PRIMARY KEY,
    slots INTEGER NOT NULL,
    used INTEGER NOT NULL DEFAULT 0 CHECK (used <= slots)
)
"""


class HostState(NamedTuple):
    cell: str
    host: str
    free: int


def cell_names(count: int) -> list[str]:
    return [f"cell{n}" for n in range(1, count + 1)]


def cell_path(state_dir: str, cell: str) -> str:
    return os.path.join(state_dir, f"{cell}.sqlite")


def create_cell(state_dir: str, cell: str, hosts: int) -> None:
    """Create the cell's database if needed, with ``hosts`` hosts; existing ones are kept."""
    with storage.connect(cell_path(state_dir, cell)) as conn, storage.transaction(conn):
        conn.execute(_SCHEMA)
        conn.executemany(
            "INSERT OR IGNORE INTO hosts (name, slots) VALUES (?, ?)",
            [(f"{cell}-host{n}", HOST_SLOTS) for n in range(1, hosts + 1)],
        )


def host_states(cell: str, state_dir: str, timeout: float) -> list[HostState]:
    """The free slots of every host of ``cell``: runs on the scatter-gather pool.

    ``timeout`` is the scatter-gather's: SQLite waits a little longer for a
    locked cell, so that the scatter-gather is what gives up on it
    (DID_NOT_RESPOND), and the pool thread still comes back soon after.
    """
    with storage.connect(cell_path(state_dir, cell), timeout=2 * timeout) as conn:
        rows = conn.execute("SELECT name, slots - used FROM hosts ORDER BY name").fetchall()
    return [HostState(cell, name, free) for name, free in rows]


def take_slot(conn: sqlite3.Connection, host: str, schema: str = "cell") -> bool:
    """Use one slot of ``host`` in the attached cell ``schema``; False if it is full."""
    cursor = conn.execute(
        f"UPDATE {schema}.hosts SET used = used + 1 WHERE name = ? AND used < slots", (host,)
    )
    return cursor.rowcount == 1
