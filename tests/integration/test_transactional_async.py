"""Transactional enqueue from `async def` code, through every kind of async caller connection:
psycopg's AsyncConnection, asyncpg, and SQLAlchemy's AsyncConnection and AsyncSession on both
drivers. The task rows commit or roll back with the caller's own writes, the workers are woken
only when the transaction commits, and a connection given to the wrong kind of call is refused
with the call to use."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import asyncpg
import psycopg
import psycopg2
import pytest
import sqlalchemy
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine
from sqlalchemy.orm import Session

from pq import PQ, ConfigurationError, DuplicateClientIdError, SerializationError
from taskmods import api

T = TypeVar("T")

INSERT = "INSERT INTO orders (ref) VALUES ({})"


@dataclass
class AsyncTx:
    """A caller's open async transaction: what to pass as connection=, and how to end it."""

    connection: Any
    write: Callable[[str], Awaitable[None]]  # the caller's own write in the same transaction
    commit: Callable[[], Awaitable[None]]
    rollback: Callable[[], Awaitable[None]]
    close: Callable[[], Awaitable[None]]


async def _psycopg_async(db_url: str) -> AsyncTx:
    conn = await psycopg.AsyncConnection.connect(db_url)

    async def write(ref: str) -> None:
        await conn.execute(INSERT.format("%s"), (ref,))

    return AsyncTx(conn, write, conn.commit, conn.rollback, conn.close)


def _asyncpg_params(db_url: str) -> dict[str, Any]:
    """asyncpg.connect's arguments for the test database (asyncpg reads URLs, not libpq's
    key=value)."""
    params = psycopg.conninfo.conninfo_to_dict(db_url)
    given = {k: params[k] for k in ("host", "port", "user", "password") if params.get(k)}
    return {"database": params["dbname"], **given}


def _asyncpg_connect(db_url: str) -> Awaitable[Any]:
    return asyncpg.connect(**_asyncpg_params(db_url))  # type: ignore[no-any-return]


async def _asyncpg(db_url: str) -> AsyncTx:
    conn = await _asyncpg_connect(db_url)
    transaction = conn.transaction()
    await transaction.start()

    async def write(ref: str) -> None:
        await conn.execute(INSERT.format("$1"), ref)

    return AsyncTx(conn, write, transaction.commit, transaction.rollback, conn.close)


def _engine(db_url: str, driver: str) -> AsyncEngine:
    if driver == "asyncpg":
        return create_async_engine(
            "postgresql+asyncpg://", async_creator=lambda: _asyncpg_connect(db_url)
        )
    return create_async_engine(
        "postgresql+psycopg://", async_creator=lambda: psycopg.AsyncConnection.connect(db_url)
    )


def _sqlalchemy_connection(driver: str) -> Callable[[str], Awaitable[AsyncTx]]:
    async def open_(db_url: str) -> AsyncTx:
        engine = _engine(db_url, driver)
        conn = await engine.connect()
        insert = sqlalchemy.text(INSERT.format(":ref"))

        async def write(ref: str) -> None:
            await conn.execute(insert, {"ref": ref})

        async def close() -> None:
            await conn.close()
            await engine.dispose()

        return AsyncTx(conn, write, conn.commit, conn.rollback, close)

    return open_


def _sqlalchemy_session(driver: str) -> Callable[[str], Awaitable[AsyncTx]]:
    async def open_(db_url: str) -> AsyncTx:
        engine = _engine(db_url, driver)
        session = AsyncSession(engine)
        insert = sqlalchemy.text(INSERT.format(":ref"))

        async def write(ref: str) -> None:
            await session.execute(insert, {"ref": ref})

        async def close() -> None:
            await session.close()
            await engine.dispose()

        return AsyncTx(session, write, session.commit, session.rollback, close)

    return open_


ADAPTERS: dict[str, Callable[[str], Awaitable[AsyncTx]]] = {
    "psycopg-async": _psycopg_async,
    "asyncpg": _asyncpg,
    "sqlalchemy-connection-psycopg": _sqlalchemy_connection("psycopg"),
    "sqlalchemy-session-psycopg": _sqlalchemy_session("psycopg"),
    "sqlalchemy-connection-asyncpg": _sqlalchemy_connection("asyncpg"),
    "sqlalchemy-session-asyncpg": _sqlalchemy_session("asyncpg"),
}


class Loop:
    """One event loop for a test, run step by step: between steps no loop is running, so
    the test can run a worker (which forks) and read with sync connections."""

    def __init__(self, runner: asyncio.Runner) -> None:
        self.runner = runner

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.runner.run(coro)


@pytest.fixture
def loop() -> Iterator[Loop]:
    with asyncio.Runner() as runner:
        yield Loop(runner)


@pytest.fixture(params=list(ADAPTERS))
def tx(request: pytest.FixtureRequest, db_url: str, loop: Loop) -> Iterator[AsyncTx]:
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE orders (ref text PRIMARY KEY)")
    opened = loop.run(ADAPTERS[request.param](db_url))
    yield opened
    loop.run(opened.close())


@pytest.fixture
def listener(app: PQ, db_url: str) -> Iterator[psycopg.Connection[Any]]:
    """Hears what an idle worker would hear on the wake-up channel."""
    conn = psycopg.connect(db_url, autocommit=True)
    conn.execute(f'LISTEN "{app.queries.channel}"')
    yield conn
    conn.close()


def _notices_until(conn: psycopg.Connection[Any], marker: str) -> list[str]:
    """Every wake-up notice up to `marker`. Notices arrive in commit order, so what is not
    here by the marker was not sent before the marker's transaction committed."""
    seen: list[str] = []
    deadline = time.monotonic() + 10
    while marker not in seen:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"no {marker!r} notice; saw {seen}"
        seen += [n.payload for n in conn.notifies(timeout=remaining, stop_after=1)]
    return seen


async def _enqueue_every_async_way(app: PQ, tx: AsyncTx) -> list[int]:
    task = app.task(api.echo)
    conn = tx.connection
    return [
        await app.aenqueue(api.echo, "aenqueue", queue="tx", connection=conn),
        (await task.aapply_async(("aapply_async",), queue="tx", connection=conn)).id,
        await app.aupsert(api.echo, "aupsert", client_id="tx-1", queue="tx", connection=conn),
        (await task.aupsert("task-aupsert", client_id="tx-2", connection=conn)).id,
        *await app.aenqueue_many(api.echo, ["bulk-1", "bulk-2"], queue="tx", connection=conn),
        *await task.amap(["amap"], queue="tx", connection=conn),
    ]


def _orders(db_url: str) -> list[str]:
    with psycopg.connect(db_url) as conn:
        return [r[0] for r in conn.execute("SELECT ref FROM orders ORDER BY ref")]


def test_on_commit_the_tasks_exist_the_workers_wake_and_a_worker_runs_them(
    app: PQ, tx: AsyncTx, loop: Loop, listener: psycopg.Connection[Any], db_url: str
) -> None:
    loop.run(tx.write("order-1"))
    ids = loop.run(_enqueue_every_async_way(app, tx))

    assert all(app.get_task(i) is None for i in ids)  # invisible until the caller commits
    app.enqueue(api.echo, "marker", queue="marker-1")
    assert "t:tx" not in _notices_until(listener, "t:marker-1")  # no wake-up before commit

    loop.run(tx.commit())

    _notices_until(listener, "t:tx")  # the commit wakes the workers of the queue
    assert app.run_worker(burst=True, queues=["tx", "default"]) == 7
    results = sorted(app.get_task(i).result for i in ids)  # type: ignore[union-attr]
    assert results == [
        "aapply_async",
        "aenqueue",
        "amap",
        "aupsert",
        "bulk-1",
        "bulk-2",
        "task-aupsert",
    ]
    assert _orders(db_url) == ["order-1"]


def test_on_rollback_the_tasks_never_exist_and_no_worker_wakes(
    app: PQ, tx: AsyncTx, loop: Loop, listener: psycopg.Connection[Any], db_url: str
) -> None:
    loop.run(tx.write("order-2"))
    ids = loop.run(_enqueue_every_async_way(app, tx))

    loop.run(tx.rollback())

    app.enqueue(api.echo, "marker", queue="marker-2")
    assert "t:tx" not in _notices_until(listener, "t:marker-2")
    assert all(app.get_task(i) is None for i in ids)
    assert app.get_task_by_client_id("tx-1") is None
    assert app.run_worker(burst=True, queues=["tx", "default"]) == 0
    assert _orders(db_url) == []


def test_a_duplicate_client_id_raises_duplicate_client_id(app: PQ, tx: AsyncTx, loop: Loop) -> None:
    app.enqueue(api.echo, 1, client_id="taken")
    with pytest.raises(DuplicateClientIdError):
        loop.run(app.aenqueue(api.echo, 2, client_id="taken", connection=tx.connection))
    loop.run(tx.rollback())  # the caller's transaction is aborted by the failed insert
    assert app.get_task_by_client_id("taken").args == [1]  # type: ignore[union-attr]


def test_a_bad_item_in_a_bulk_enqueue_leaves_the_caller_transaction_usable(
    app: PQ, tx: AsyncTx, loop: Loop, db_url: str
) -> None:
    # Items are encoded before anything is sent on the caller's connection.
    loop.run(tx.write("order-3"))
    with pytest.raises(SerializationError, match="item 1 of map"):
        loop.run(app.aenqueue_many(api.echo, ["ok", "bad\x00"], connection=tx.connection))
    loop.run(tx.write("order-4"))
    loop.run(tx.commit())
    assert _orders(db_url) == ["order-3", "order-4"]
    assert app.pending_count() == 0


def test_a_sync_call_refuses_an_async_connection_and_names_the_async_call(
    app: PQ, tx: AsyncTx
) -> None:
    task = app.task(api.echo)
    with pytest.raises(ConfigurationError, match=r"async connection.*await task\.aapply_async"):
        task.apply_async((1,), connection=tx.connection)
    with pytest.raises(ConfigurationError, match=r"await app\.aenqueue\(\)"):
        app.enqueue_many(api.echo, [1], connection=tx.connection)
    assert app.pending_count() == 0


@pytest.mark.parametrize("kind", ["psycopg", "psycopg2", "sqlalchemy-session"])
def test_an_async_call_refuses_a_sync_connection_and_names_the_sync_call(
    app: PQ, loop: Loop, db_url: str, kind: str
) -> None:
    task = app.task(api.echo)
    if kind == "psycopg":
        conn: Any = psycopg.connect(db_url)
    elif kind == "psycopg2":
        conn = psycopg2.connect(db_url)
    else:
        conn = Session(sqlalchemy.create_engine("postgresql+psycopg://", creator=lambda: None))
    try:
        with pytest.raises(ConfigurationError, match=r"sync connection.*task\.apply_async"):
            loop.run(task.aapply_async((1,), connection=conn))
        with pytest.raises(ConfigurationError, match=r"sync connection"):
            loop.run(app.aupsert(api.echo, 1, client_id="k", connection=conn))
    finally:
        conn.close()
    assert app.pending_count() == 0


def test_an_async_call_refuses_an_unknown_object_with_what_it_takes(app: PQ, loop: Loop) -> None:
    with pytest.raises(ConfigurationError, match="asyncpg Connection, or a SQLAlchemy"):
        loop.run(app.aenqueue(api.echo, 1, connection=object()))
    assert app.pending_count() == 0


def test_a_bulk_enqueue_on_asyncpg_outside_a_transaction_commits_its_rows(
    app: PQ, loop: Loop, db_url: str
) -> None:
    # asyncpg commits each statement by itself outside `conn.transaction()`; the ids, the
    # COPY and the wake-up then run in a transaction of their own.
    async def enqueue() -> list[int]:
        conn = await _asyncpg_connect(db_url)
        try:
            return await app.aenqueue_many(api.echo, [1, 2, 3], connection=conn)
        finally:
            await conn.close()

    ids = loop.run(enqueue())
    assert [app.get_task(i).args for i in ids] == [[1], [2], [3]]  # type: ignore[union-attr]


def test_an_enqueue_as_the_transactions_first_statement_rolls_back_with_it(
    app: PQ, tx: AsyncTx, loop: Loop, db_url: str
) -> None:
    # SQLAlchemy's asyncpg dialect sends BEGIN only with its own first statement: a task
    # written before any of the caller's statements must still be inside the transaction.
    task = app.task(api.echo)
    handle = loop.run(task.aapply_async(("first",), connection=tx.connection))
    loop.run(tx.write("order-5"))
    loop.run(tx.rollback())
    assert app.get_task(handle.id) is None
    assert _orders(db_url) == []


@pytest.mark.parametrize("driver", ["psycopg-async", "asyncpg"])
def test_transactional_enqueue_through_the_bouncer(
    pooled_url: str, db_url: str, loop: Loop, driver: str
) -> None:
    # Callers' own connections through PgBouncer in transaction mode, at the same time: a
    # statement prepared on one server session must not be assumed on the next (asyncpg is
    # told so with statement_cache_size=0, as its documentation asks behind such a pooler).
    app = PQ(pooled_url)
    task = app.task(api.echo)
    url = pooled_url.partition("?")[0]

    async def produce() -> None:
        if driver == "asyncpg":
            conn: Any = await asyncpg.connect(url, statement_cache_size=0)
        else:
            conn = await psycopg.AsyncConnection.connect(url)
        try:
            for n in range(12):
                transaction = conn.transaction() if driver == "asyncpg" else None
                if transaction is not None:
                    await transaction.start()
                await task.aapply_async((n,), connection=conn)
                ending = transaction if transaction is not None else conn
                await (ending.commit() if n % 2 else ending.rollback())
        finally:
            await conn.close()

    async def produce_all() -> None:
        await asyncio.gather(*(produce() for _ in range(3)))

    loop.run(produce_all())
    app.close()
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT count(*) FROM pq_tasks").fetchone() == (3 * 6,)


def test_a_pooled_asyncpg_connection_rides_its_transaction_and_the_pool_is_refused(
    app: PQ, loop: Loop, db_url: str
) -> None:
    async def enqueue() -> tuple[int, int]:
        pool = await asyncpg.create_pool(**_asyncpg_params(db_url), min_size=1, max_size=1)
        try:
            with pytest.raises(ConfigurationError, match="acquired from it"):
                await app.aenqueue(api.echo, "pool", connection=pool)
            async with pool.acquire() as conn:
                async with conn.transaction():
                    kept = await app.aenqueue(api.echo, "kept", connection=conn)
                lost_tx = conn.transaction()
                await lost_tx.start()
                lost = await app.aenqueue(api.echo, "lost", connection=conn)
                await lost_tx.rollback()
            return kept, lost
        finally:
            await pool.close()

    kept, lost = loop.run(enqueue())
    assert app.get_task(kept).args == ["kept"]  # type: ignore[union-attr]
    assert app.get_task(lost) is None
    assert app.pending_count() == 1
