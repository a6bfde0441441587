"""Counting a test database's sessions in pg_stat_activity and pg_locks (connection budget)."""

from __future__ import annotations

import psycopg


def _count(db_url: str, query: str) -> int:
    with psycopg.connect(db_url) as conn:
        row = conn.execute(query).fetchone()
        assert row is not None
        return int(row[0])


def sessions(db_url: str) -> int:
    """Client sessions on this test's database, other than the one asking."""
    return _count(
        db_url,
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        " AND backend_type = 'client backend'",
    )


def listen_sessions(db_url: str) -> int:
    """Sessions LISTENing for task ends: each says so with shared advisory locks (see
    pq/store/sql/channel_done_wait.sql) for as long as it listens."""
    return _count(
        db_url,
        "SELECT count(DISTINCT pid) FROM pg_locks WHERE locktype = 'advisory'"
        " AND mode = 'ShareLock' AND granted AND database ="
        " (SELECT oid FROM pg_database WHERE datname = current_database())",
    )


def task_listeners(db_url: str) -> int:
    """Sessions waiting idle on a LISTEN (their last statement): the workers that hear new
    tasks (one per queue set and machine holds the listener slot, pq/worker/slot.py)."""
    return _count(
        db_url,
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
        " AND state = 'idle' AND query LIKE 'LISTEN %'",
    )
