"""Callers' async connections (transactional enqueue from `async def` code).

`async_executor_for` turns what an async caller passes as `connection=` (a psycopg
`AsyncConnection`, an `asyncpg.Connection`, or a SQLAlchemy `AsyncConnection`/`AsyncSession`
on either driver) into an `AsyncExecutor` running in the caller's open transaction. The SQL is
the same statement files the sync executors run (pq/store/sql): psycopg takes their named
%(name)s parameters as they are; for asyncpg each statement is rewritten once to positional
$n parameters (`dollar_params`, cached), never per call.
"""

from __future__ import annotations

import functools
import re
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from typing import Any, Protocol

import psycopg
from psycopg.rows import dict_row, tuple_row

from pq.errors import ConfigurationError
from pq.store.db import SYNC_CALLS, Row, is_async_connection


class AsyncExecutor(Protocol):
    """`pq.store.db.Executor` for an async connection: runs one statement of ours with named
    (%(name)s) parameters inside the caller's transaction."""

    async def fetch(self, query: str, params: Mapping[str, Any]) -> list[Row]: ...

    async def fetch_id(self, query: str, params: Mapping[str, Any]) -> int: ...

    async def copy_text(self, statement: str, chunks: Iterable[str]) -> None:
        """Streams data already in COPY's text format into a `COPY ... FROM STDIN`."""
        ...

    def atomic(self) -> AbstractAsyncContextManager[None]:
        """A block whose statements commit or roll back together: the caller's transaction
        when one is open, else one of its own (a connection in autocommit)."""
        ...


class AsyncPsycopgExecutor:
    """Over a psycopg 3 `AsyncConnection`. Never prepares: a caller's connection may go
    through a pooler in transaction mode (as for the sync PsycopgExecutor)."""

    def __init__(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self.conn = conn

    async def fetch(self, query: str, params: Mapping[str, Any]) -> list[Row]:
        async with self.conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(query, params, prepare=False)  # our SQL files, not user text
            return await cur.fetchall() if cur.description is not None else []

    async def fetch_id(self, query: str, params: Mapping[str, Any]) -> int:
        # tuple_row: a caller's connection may have a row factory of its own.
        async with self.conn.cursor(row_factory=tuple_row) as cur:
            await cur.execute(query, params, prepare=False)
            row = await cur.fetchone()
        assert row is not None, "the statement returned no row"
        return int(row[0])

    async def copy_text(self, statement: str, chunks: Iterable[str]) -> None:
        async with self.conn.cursor() as cur, cur.copy(statement) as copy:
            for chunk in chunks:
                await copy.write(chunk)

    def atomic(self) -> AbstractAsyncContextManager[None]:
        if self.conn.autocommit:
            return _discarding(self.conn.transaction())
        return nullcontext()  # psycopg has begun (or will begin) the caller's transaction


_PARAM = re.compile(r"%\((\w+)\)s|%%")
_JSON_CAST = re.compile(r"(\$\d+)::(jsonb?)\b")
_COPY = re.compile(r'^\s*COPY\s+"([^"]+)"\.(\w+)\s*\(([^)]*)\)\s+FROM\s+STDIN\s*$', re.I)


@functools.cache
def dollar_params(query: str) -> tuple[str, tuple[str, ...]]:
    """One of our statements for asyncpg: each %(name)s becomes $n (a name used twice keeps
    its number), `%%` becomes `%`; returns the text and the names in $n order.

    A JSON parameter (`$n::jsonb`) is sent as text and cast by the server (`$n::text::jsonb`):
    our rows carry JSON already encoded, and the codec asyncpg applies to a jsonb parameter is
    the connection's own (SQLAlchemy installs one that expects text, a caller may install one
    that expects Python values). Cached per statement text: a statement is converted once."""
    names: dict[str, int] = {}

    def number(match: re.Match[str]) -> str:
        name = match.group(1)
        if name is None:
            return "%"
        return f"${names.setdefault(name, len(names) + 1)}"

    text = _JSON_CAST.sub(r"\1::text::\2", _PARAM.sub(number, query))
    return text, tuple(names)


@functools.cache
def copy_target(statement: str) -> tuple[str, str, tuple[str, ...]]:
    """(schema, table, columns) of one of our `COPY "schema".table (...) FROM STDIN`
    statements, for asyncpg's copy_to_table, which writes the COPY itself."""
    match = _COPY.match(statement)
    assert match is not None, f"not a COPY ... FROM STDIN of ours: {statement!r}"
    columns = tuple(c.strip() for c in match.group(3).split(","))
    return match.group(1), match.group(2), columns


class AsyncpgExecutor:
    """Over an `asyncpg.Connection` (raw, or the one under SQLAlchemy's asyncpg dialect).
    JSON columns come back as the connection's codec decodes them (text with plain asyncpg);
    the enqueue statements return none."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    async def fetch(self, query: str, params: Mapping[str, Any]) -> list[Row]:
        text, names = dollar_params(query)
        records = await self.conn.fetch(text, *[params[n] for n in names])
        return [dict(r) for r in records]

    async def fetch_id(self, query: str, params: Mapping[str, Any]) -> int:
        text, names = dollar_params(query)
        return int(await self.conn.fetchval(text, *[params[n] for n in names]))

    async def copy_text(self, statement: str, chunks: Iterable[str]) -> None:
        schema, table, columns = copy_target(statement)

        async def source() -> AsyncIterator[bytes]:
            for chunk in chunks:
                yield chunk.encode()

        await self.conn.copy_to_table(
            table, source=source(), columns=columns, schema_name=schema, format="text"
        )

    def atomic(self) -> AbstractAsyncContextManager[None]:
        if self.conn.is_in_transaction():
            return nullcontext()
        # Outside `async with conn.transaction()` asyncpg commits every statement by itself.
        return _discarding(self.conn.transaction())


@asynccontextmanager
async def _discarding(transaction: Any) -> AsyncIterator[None]:
    async with transaction:
        yield


def _name(connection: Any) -> str:
    return f"{type(connection).__module__}.{type(connection).__name__}"


async def async_executor_for(connection: Any) -> AsyncExecutor:
    """An AsyncExecutor inside the caller's open transaction; a sync connection is refused
    with the call that takes it."""
    if type(connection).__module__.startswith("sqlalchemy.ext.asyncio"):
        raw = await _sqlalchemy_driver_connection(connection)
    else:
        raw = connection
    if isinstance(raw, psycopg.AsyncConnection):
        return AsyncPsycopgExecutor(raw)
    if type(raw).__module__.startswith("asyncpg"):
        import asyncpg

        if isinstance(raw, asyncpg.Pool):
            # Each of a pool's own calls runs on whichever connection is free, outside any
            # transaction of the caller's: the task would commit at once, alone.
            raise ConfigurationError(
                "connection= got an asyncpg Pool; pass a connection acquired from it, inside "
                "its transaction: async with pool.acquire() as conn, conn.transaction(): ..."
            )
        return AsyncpgExecutor(raw)  # a Connection, or a pool's proxy of one
    if is_sync_connection(connection):
        raise ConfigurationError(
            f"connection= got {_name(connection)}, a sync connection, in an async call; pass "
            f"it to {SYNC_CALLS} (workflow.apply_async(connection=...) for a chain, group or "
            "chord), or pass an async connection here"
        )
    raise ConfigurationError(
        f"connection= got {_name(connection)}; the async calls take an open psycopg "
        "AsyncConnection, an asyncpg Connection, or a SQLAlchemy AsyncConnection or "
        "AsyncSession (drivers postgresql+psycopg or postgresql+asyncpg)"
    )


def is_sync_connection(connection: Any) -> bool:
    """Whether `connection` is one the sync enqueue calls take."""
    if isinstance(connection, psycopg.Connection):
        return True
    module = type(connection).__module__
    return module.startswith(("psycopg2", "django", "sqlalchemy")) and not is_async_connection(
        connection
    )


async def _sqlalchemy_driver_connection(connection: Any) -> Any:
    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

    if isinstance(connection, AsyncSession):
        connection = await connection.connection()  # begins the session's transaction
    if not isinstance(connection, AsyncConnection):
        return connection
    if not connection.in_transaction():
        # As SQLAlchemy's autobegin would on execute: the caller's commit() then covers us.
        await connection.begin()
    raw = (await connection.get_raw_connection()).driver_connection
    assert raw is not None, "a SQLAlchemy connection in a transaction has its driver's"
    if type(raw).__module__.startswith("asyncpg") and not raw.is_in_transaction():
        # SQLAlchemy's asyncpg dialect sends BEGIN only with its first statement and commits
        # only a transaction it began: a statement of ours first would autocommit and leave
        # the caller's commit() or rollback() nothing to do. Its own statement begins it.
        await connection.exec_driver_sql("SELECT 1")
    return raw
