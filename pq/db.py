"""Connections: the producer pool, the worker's own connections, and callers' connections.

Every statement reaches the database through an `Executor`, so the same SQL in
`pq/queries.py` runs on our pool or inside a caller's transaction (transactional enqueue).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from pq.errors import DatabaseUnavailableError

log = logging.getLogger("pq.db")

Row = dict[str, Any]


class Executor(Protocol):
    """Runs one statement with named (%(name)s) parameters and returns its rows as dicts."""

    def fetch(self, query: str, params: Mapping[str, Any]) -> list[Row]: ...


class PsycopgExecutor:
    """Executor over a psycopg 3 connection; commits are the caller's business."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn

    def fetch(self, query: str, params: Mapping[str, Any]) -> list[Row]:
        with self.conn.cursor(row_factory=dict_row) as cur:
            cur.execute(query, params)  # our SQL files, not user text
            return cur.fetchall() if cur.description is not None else []

    def copy_rows(self, statement: str, rows: Sequence[Sequence[Any]]) -> None:
        """Streams rows into a `COPY ... FROM STDIN` statement."""
        with self.conn.cursor() as cur, cur.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)


def describe_url(url: str) -> str:
    """The URL without its password, for messages and logs."""
    try:
        info = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "<unparseable database URL>"
    info.pop("password", None)
    return " ".join(f"{k}={v}" for k, v in info.items())


def connect(url: str, *, autocommit: bool = True, **options: Any) -> psycopg.Connection[Any]:
    """Opens one connection, turning every failure into a clear DatabaseUnavailableError.

    `options` are extra libpq parameters (e.g. the worker's TCP keepalives).
    """
    try:
        return psycopg.connect(url, autocommit=autocommit, connect_timeout=10, **options)
    except psycopg.ProgrammingError as exc:
        raise DatabaseUnavailableError(
            f"the database URL is invalid ({exc}); expected e.g. postgresql://user@host:5432/db"
        ) from exc
    except psycopg.OperationalError as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
        raise DatabaseUnavailableError(
            f"cannot connect to the database ({describe_url(url)}): {first_line}. "
            "Check that Postgres is running and the URL (PQ_DATABASE_URL) is right"
        ) from exc


def open_pool(url: str, *, min_size: int, max_size: int) -> ConnectionPool[Any]:
    """Opens the producer pool after checking once that the database answers."""
    connect(url).close()  # fail fast with a clear message rather than a pool timeout later
    pool: ConnectionPool[Any] = ConnectionPool(
        url, min_size=min_size, max_size=max_size, open=False, name="pq"
    )
    pool.open()
    return pool


def executor_for(connection: Any) -> Executor:
    """An Executor inside the caller's open transaction (transactional enqueue)."""
    if isinstance(connection, psycopg.Connection):
        return PsycopgExecutor(connection)
    from pq.errors import ConfigurationError

    raise ConfigurationError(
        f"connection= got a {type(connection).__module__}.{type(connection).__name__}; "
        "pass an open psycopg 3 connection"
    )
