"""Connections: the producer pool, the worker's own connections, and callers' connections.

Every statement reaches the database through an `Executor`, so the same SQL in
`pq/queries.py` runs on our pool or inside a caller's transaction (transactional enqueue).
"""

from __future__ import annotations

import io
import json
import logging
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from typing import Any, Protocol

import psycopg
from psycopg.rows import dict_row, tuple_row
from psycopg.types.json import JsonbLoader, JsonLoader
from psycopg_pool import ConnectionPool

from pq.errors import ConfigurationError, DatabaseUnavailableError
from pq.store import pooler
from pq.store.redact import describe_url, redact_url_error
from pq.store.rows import copy_rows_text

log = logging.getLogger("pq.db")

Row = dict[str, Any]


class Executor(Protocol):
    """Runs one statement with named (%(name)s) parameters and returns its rows as dicts."""

    def fetch(self, query: str, params: Mapping[str, Any]) -> list[Row]: ...

    def fetch_id(self, query: str, params: Mapping[str, Any]) -> int:
        """Runs a statement whose first row's first column is an id (an INSERT ... RETURNING
        id): without building a dict per row, which costs a single enqueue a third of its
        client CPU."""
        ...

    def copy_rows(self, statement: str, rows: Iterable[Sequence[Any]]) -> None:
        """Streams rows into a `COPY ... FROM STDIN` statement."""
        ...

    def copy_text(self, statement: str, chunks: Iterable[str]) -> None:
        """Streams data already in COPY's text format into a `COPY ... FROM STDIN`."""
        ...


class PsycopgExecutor:
    """Executor over a psycopg 3 connection; commits are the caller's business.

    decode_json: the connection loads json as text (Django registers such loaders, its
    JSONField decodes by itself); this executor's cursors load it as values again.
    prepare: None lets the connection's prepare_threshold decide; False never prepares (a
    caller's connection may go through a pooler in transaction mode).
    """

    def __init__(
        self,
        conn: psycopg.Connection[Any],
        *,
        decode_json: bool = False,
        prepare: bool | None = None,
    ) -> None:
        self.conn = conn
        self.decode_json = decode_json
        self.prepare = prepare

    def fetch(self, query: str, params: Mapping[str, Any]) -> list[Row]:
        with self.conn.cursor(row_factory=dict_row) as cur:
            if self.decode_json:
                # A cursor's adapters are its own copy: the caller's connection keeps its own.
                cur.adapters.register_loader("json", JsonLoader)
                cur.adapters.register_loader("jsonb", JsonbLoader)
            cur.execute(query, params, prepare=self.prepare)  # our SQL files, not user text
            return cur.fetchall() if cur.description is not None else []

    def fetch_id(self, query: str, params: Mapping[str, Any]) -> int:
        # tuple_row: a caller's connection may have a row factory of its own.
        with self.conn.cursor(row_factory=tuple_row) as cur:
            cur.execute(query, params, prepare=self.prepare)
            row = cur.fetchone()
        assert row is not None, "the statement returned no row"
        return int(row[0])

    def copy_rows(self, statement: str, rows: Iterable[Sequence[Any]]) -> None:
        """Streams rows into a `COPY ... FROM STDIN` statement."""
        with self.conn.cursor() as cur, cur.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)

    def copy_text(self, statement: str, chunks: Iterable[str]) -> None:
        """Streams data already in COPY's text format into a `COPY ... FROM STDIN`."""
        with self.conn.cursor() as cur, cur.copy(statement) as copy:
            for chunk in chunks:
                copy.write(chunk)


def connect(
    url: str,
    *,
    autocommit: bool = True,
    connection_class: type[psycopg.Connection[Any]] = psycopg.Connection,
    **options: Any,
) -> psycopg.Connection[Any]:
    """Opens one connection, turning every failure into a clear DatabaseUnavailableError.

    `options` are extra libpq parameters (e.g. the worker's TCP keepalives); the worker passes
    its own `connection_class` too (pq/worker/stall.py). The error is one
    line with every secret of the URL masked, and it does not chain psycopg's exception,
    whose text may quote the whole URL (a task's stored traceback would show it). Behind a
    connection pooler the connection never prepares statements (see pq.store.pooler).
    """
    try:
        conn = connection_class.connect(url, autocommit=autocommit, connect_timeout=10, **options)
    except psycopg.ProgrammingError as exc:
        reason = redact_url_error(str(exc), url)
        raise DatabaseUnavailableError(
            f"the database URL is invalid ({reason}); expected e.g. postgresql://user@host:5432/db"
        ) from None
    except psycopg.OperationalError as exc:
        reason = redact_url_error(str(exc), url) or type(exc).__name__
        raise DatabaseUnavailableError(
            f"cannot connect to the database ({describe_url(url)}): {reason}. "
            "Check that Postgres is running and the URL (PQ_DATABASE_URL) is right"
        ) from None
    pooler.settle(url, conn)
    return conn


# The one connection a forked child (a task that enqueues) uses instead of a pool.
_fork_local: dict[str, psycopg.Connection[Any]] = {}
_fork_local_lock = threading.RLock()


@contextmanager
def fork_local_transaction(url: str) -> Iterator[psycopg.Connection[Any]]:
    """A transaction on this process's single connection to `url`, opened on first use.

    For forked task children: a pool per child would multiply connections by the running
    tasks (and start pool threads after a fork). Threads of one task take turns.
    """
    with _fork_local_lock:
        conn = _fork_local.get(url)
        if conn is None or conn.closed:
            conn = _fork_local[url] = connect(url, autocommit=False)
        try:
            yield conn
        except BaseException:
            conn.rollback()
            raise
        conn.commit()


@contextmanager
def autocommitted(conn: psycopg.Connection[Any]) -> Iterator[psycopg.Connection[Any]]:
    """A pooled connection in autocommit for a block that runs one statement: the statement
    is its own transaction and commits in the round trip that runs it, where BEGIN, the
    statement and COMMIT take three (an enqueue is one INSERT: this is most of its cost)."""
    conn.autocommit = True
    try:
        yield conn
    finally:
        try:
            conn.autocommit = False
        except psycopg.Error:
            # Only a broken connection refuses (autocommit leaves no transaction open). The
            # pool drops a closed connection, so it never lends one still in autocommit.
            conn.close()


def close_fork_local() -> None:
    """Closes the child's own connection(s); the worker's child calls this before it exits."""
    with _fork_local_lock:
        for conn in _fork_local.values():
            with suppress(Exception):
                conn.close()
        _fork_local.clear()


def _forget_fork_local_in_child() -> None:
    # A connection opened by a parent that forks (a child's own grandchild) is not ours.
    global _fork_local_lock
    _fork_local.clear()
    _fork_local_lock = threading.RLock()


os.register_at_fork(after_in_child=_forget_fork_local_in_child)


def open_pool(
    url: str,
    *,
    min_size: int,
    max_size: int,
    configure: Callable[[psycopg.Connection[Any]], None] | None = None,
) -> ConnectionPool[Any]:
    """Opens the producer pool after checking once that the database answers; `configure`
    runs on each new connection."""
    connect(url).close()  # fail fast with a clear message rather than a pool timeout later
    kwargs: dict[str, Any] = {"prepare_threshold": None} if pooler.is_pooled(url) else {}
    pool: ConnectionPool[Any] = ConnectionPool(
        url,
        min_size=min_size,
        max_size=max_size,
        open=False,
        name="pq",
        kwargs=kwargs,
        configure=configure,
    )
    pool.open()
    return pool


_JSON_OIDS = (114, 3802)  # json, jsonb


class Psycopg2Executor:
    """Executor over a psycopg2 connection, inside whatever transaction it has open.
    decode_json: as for PsycopgExecutor (Django's psycopg2 backend loads jsonb as text)."""

    def __init__(self, conn: Any, *, decode_json: bool = False) -> None:
        self.conn = conn
        self.decode_json = decode_json

    def fetch(self, query: str, params: Mapping[str, Any]) -> list[Row]:
        with self.conn.cursor() as cur:
            cur.execute(query, params)
            if cur.description is None:
                return []
            columns = [d[0] for d in cur.description]
            rows = [dict(zip(columns, values, strict=True)) for values in cur.fetchall()]
        if self.decode_json:
            textual = [d[0] for d in cur.description if d[1] in _JSON_OIDS]
            for row in rows:
                for column in textual:
                    if isinstance(row[column], str):
                        row[column] = json.loads(row[column])
        return rows

    def fetch_id(self, query: str, params: Mapping[str, Any]) -> int:
        with self.conn.cursor() as cur:
            cur.execute(query, params)
            return int(cur.fetchone()[0])

    def copy_rows(self, statement: str, rows: Iterable[Sequence[Any]]) -> None:
        self.copy_text(statement, copy_rows_text(rows))

    def copy_text(self, statement: str, chunks: Iterable[str]) -> None:
        with self.conn.cursor() as cur:
            cur.copy_expert(statement, io.StringIO("".join(chunks)))


ASYNC_CALLS = "await task.aapply_async(...) or await app.aenqueue()/aupsert()/aenqueue_many()"
SYNC_CALLS = "task.apply_async(...) or app.enqueue()/upsert()/enqueue_many()"


def is_async_connection(connection: Any) -> bool:
    """Whether `connection` is one the async enqueue calls take (pq.store.db_async)."""
    module = type(connection).__module__
    return isinstance(connection, psycopg.AsyncConnection) or module.startswith(
        ("asyncpg", "sqlalchemy.ext.asyncio")
    )


def executor_for(connection: Any) -> Executor:
    """An Executor inside the caller's open transaction (transactional enqueue).

    Accepts a psycopg 3 or psycopg2 connection, a SQLAlchemy Connection or Session, or a
    Django connection; the last two are unwrapped to the driver connection under them, so
    our statements run in the very transaction the caller commits or rolls back. An async
    connection is refused with the calls that take it.
    """
    if is_async_connection(connection):
        raise ConfigurationError(
            f"connection= got {type(connection).__module__}.{type(connection).__name__}, an "
            f"async connection, in a sync call; enqueue on it with {ASYNC_CALLS}, or "
            "await workflow.aapply_async(connection=...) for a chain, group or chord"
        )
    raw = _driver_connection(connection)
    from_django = type(connection).__module__.startswith("django")
    if isinstance(raw, psycopg.Connection):
        # Never prepare on a caller's connection: it may go through a pooler in transaction
        # mode, where a prepared name clashes or vanishes on the next transaction's session.
        return PsycopgExecutor(raw, decode_json=from_django, prepare=False)
    if type(raw).__module__.startswith("psycopg2"):
        return Psycopg2Executor(raw, decode_json=from_django)
    raise ConfigurationError(
        f"connection= got a {type(connection).__module__}.{type(connection).__name__}; "
        "pass an open psycopg 3 or psycopg2 connection, a SQLAlchemy Connection or Session, "
        "or a Django connection (django.db.connection)"
    )


def _driver_connection(connection: Any) -> Any:
    module = type(connection).__module__
    if module.startswith("sqlalchemy"):
        return _sqlalchemy_driver_connection(connection)
    if module.startswith("django"):
        # Django opens its connection lazily; inside atomic() the driver connection is in
        # the block's transaction, outside it Django autocommits each statement.
        connection.ensure_connection()
        return connection.connection
    return connection


def _sqlalchemy_driver_connection(connection: Any) -> Any:
    from sqlalchemy.engine import Connection
    from sqlalchemy.orm import Session

    if isinstance(connection, Session):
        connection = connection.connection()  # begins the session's transaction if needed
    if not isinstance(connection, Connection):
        return connection
    if not connection.in_transaction():
        # Begin as SQLAlchemy's autobegin would on execute, so the caller's commit() (or
        # rollback()) covers our insert instead of being a no-op on a never-begun transaction.
        connection.begin()
    return connection.connection.dbapi_connection
