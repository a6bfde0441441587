"""Transactional enqueue through every kind of caller connection: the task rows commit or roll
back with the caller's own writes, and workers are woken only when the transaction commits."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import psycopg2
import pytest
import sqlalchemy
from sqlalchemy.orm import Session

from pq import PQ, ConfigurationError, DuplicateClientIdError, SerializationError, TaskStatus
from taskmods import api


@dataclass
class Tx:
    """A caller's open transaction: what to pass as connection=, and how to end it."""

    connection: Any
    write: Callable[[str], None]  # the caller's own write in the same transaction
    commit: Callable[[], None]
    rollback: Callable[[], None]
    close: Callable[[], None]


def _psycopg3(db_url: str) -> Tx:
    conn = psycopg.connect(db_url)
    return Tx(
        conn,
        lambda ref: conn.execute("INSERT INTO orders (ref) VALUES (%s)", (ref,)) and None,
        conn.commit,
        conn.rollback,
        conn.close,
    )


def _psycopg2(db_url: str) -> Tx:
    conn = psycopg2.connect(db_url)

    def write(ref: str) -> None:
        with conn.cursor() as cur:
            cur.execute("INSERT INTO orders (ref) VALUES (%s)", (ref,))

    return Tx(conn, write, conn.commit, conn.rollback, conn.close)


def _engine(db_url: str, driver: str) -> sqlalchemy.Engine:
    connect = (lambda: psycopg2.connect(db_url)) if driver == "psycopg2" else None
    if connect is None:
        return sqlalchemy.create_engine(
            "postgresql+psycopg://", creator=lambda: psycopg.connect(db_url)
        )
    return sqlalchemy.create_engine("postgresql+psycopg2://", creator=connect)


def _sqlalchemy_connection(db_url: str) -> Tx:
    engine = _engine(db_url, "psycopg2")
    conn = engine.connect()
    insert = sqlalchemy.text("INSERT INTO orders (ref) VALUES (:ref)")

    def close() -> None:
        conn.close()
        engine.dispose()

    return Tx(
        conn,
        lambda ref: conn.execute(insert, {"ref": ref}) and None,
        conn.commit,
        conn.rollback,
        close,
    )


def _sqlalchemy_session(db_url: str) -> Tx:
    engine = _engine(db_url, "psycopg")
    session = Session(engine)
    insert = sqlalchemy.text("INSERT INTO orders (ref) VALUES (:ref)")

    def close() -> None:
        session.close()
        engine.dispose()

    return Tx(
        session,
        lambda ref: session.execute(insert, {"ref": ref}) and None,
        session.commit,
        session.rollback,
        close,
    )


_django_aliases = itertools.count()


def _django(db_url: str) -> Tx:
    import django
    from django.conf import settings
    from django.db import connections, transaction

    if not settings.configured:
        settings.configure(DATABASES={}, INSTALLED_APPS=[], USE_TZ=True)
        django.setup()
    params = psycopg.conninfo.conninfo_to_dict(db_url)
    alias = f"pq_test_{next(_django_aliases)}"
    config = {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": params["dbname"],
        "USER": params.get("user", ""),
        "PASSWORD": params.get("password", ""),
        "HOST": params.get("host", ""),
        "PORT": params.get("port", ""),
    }
    filled = connections.configure_settings({"default": {}, alias: config})
    connections.settings[alias] = filled[alias]
    conn = connections[alias]
    atomic = transaction.atomic(using=alias)
    atomic.__enter__()

    def write(ref: str) -> None:
        with conn.cursor() as cur:
            cur.execute("INSERT INTO orders (ref) VALUES (%s)", [ref])

    def rollback() -> None:
        transaction.set_rollback(True, using=alias)
        atomic.__exit__(None, None, None)

    def close() -> None:
        conn.close()
        del connections[alias]

    return Tx(conn, write, lambda: atomic.__exit__(None, None, None), rollback, close)


ADAPTERS = {
    "psycopg3": _psycopg3,
    "psycopg2": _psycopg2,
    "sqlalchemy-connection": _sqlalchemy_connection,
    "sqlalchemy-session": _sqlalchemy_session,
    "django": _django,
}


@pytest.fixture(params=list(ADAPTERS))
def tx(request: pytest.FixtureRequest, db_url: str) -> Iterator[Tx]:
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE orders (ref text PRIMARY KEY)")
    opened = ADAPTERS[request.param](db_url)
    yield opened
    opened.close()


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


def _enqueue_every_way(app: PQ, tx: Tx) -> list[int]:
    task = app.task(api.echo)
    return [
        app.enqueue(api.echo, "enqueue", queue="tx", connection=tx.connection),
        task.apply_async(("apply_async",), queue="tx", connection=tx.connection).id,
        app.upsert(api.echo, "upsert", client_id="tx-1", queue="tx", connection=tx.connection),
        *app.enqueue_many(api.echo, ["bulk-1", "bulk-2"], queue="tx", connection=tx.connection),
    ]


def _orders(db_url: str) -> list[str]:
    with psycopg.connect(db_url) as conn:
        return [r[0] for r in conn.execute("SELECT ref FROM orders ORDER BY ref")]


def test_on_commit_the_tasks_exist_the_workers_wake_and_the_tasks_run(
    app: PQ, tx: Tx, listener: psycopg.Connection[Any], db_url: str
) -> None:
    tx.write("order-1")
    ids = _enqueue_every_way(app, tx)

    assert all(app.get_task(i) is None for i in ids)  # invisible until the caller commits
    app.enqueue(api.echo, "marker", queue="marker-1")
    assert "t:tx" not in _notices_until(listener, "t:marker-1")  # no wake-up before commit

    tx.commit()

    _notices_until(listener, "t:tx")  # the commit wakes the workers of the queue
    assert app.run_worker(burst=True, queues=["tx"]) == 5
    results = sorted(app.get_task(i).result for i in ids)  # type: ignore[union-attr]
    assert results == ["apply_async", "bulk-1", "bulk-2", "enqueue", "upsert"]
    assert _orders(db_url) == ["order-1"]


def test_on_rollback_the_tasks_never_exist_and_no_worker_wakes(
    app: PQ, tx: Tx, listener: psycopg.Connection[Any], db_url: str
) -> None:
    tx.write("order-2")
    ids = _enqueue_every_way(app, tx)

    tx.rollback()

    app.enqueue(api.echo, "marker", queue="marker-2")
    assert "t:tx" not in _notices_until(listener, "t:marker-2")
    assert all(app.get_task(i) is None for i in ids)
    assert app.get_task_by_client_id("tx-1") is None
    assert app.run_worker(burst=True, queues=["tx"]) == 0
    assert _orders(db_url) == []


def test_an_unknown_connection_type_is_refused_with_what_to_pass(app: PQ) -> None:
    with pytest.raises(ConfigurationError, match="psycopg2 connection, a SQLAlchemy"):
        app.enqueue(api.echo, 1, connection=object())
    assert app.pending_count() == 0


def test_a_committed_upsert_on_a_pending_task_replaces_it(app: PQ, db_url: str) -> None:
    app.upsert(api.echo, "old", client_id="k")
    with psycopg.connect(db_url) as conn:
        app.upsert(api.echo, "new", client_id="k", connection=conn)
        assert app.get_task_by_client_id("k").args == ["old"]  # type: ignore[union-attr]
    assert app.get_task_by_client_id("k").args == ["new"]  # type: ignore[union-attr]
    assert app.get_task_by_client_id("k").status is TaskStatus.PENDING  # type: ignore[union-attr]


def test_a_duplicate_client_id_in_a_caller_transaction_raises_duplicate_client_id(
    app: PQ, tx: Tx
) -> None:
    app.enqueue(api.echo, 1, client_id="taken")
    with pytest.raises(DuplicateClientIdError):
        app.enqueue(api.echo, 2, client_id="taken", connection=tx.connection)
    tx.rollback()  # the caller's transaction is aborted by the failed insert, as usual
    assert app.get_task_by_client_id("taken").args == [1]  # type: ignore[union-attr]


def test_a_bad_item_in_a_bulk_enqueue_leaves_the_caller_transaction_usable(
    app: PQ, tx: Tx, db_url: str
) -> None:
    # Items are encoded before anything is sent on the caller's connection.
    tx.write("order-3")
    with pytest.raises(SerializationError, match="item 1 of map"):
        app.enqueue_many(api.echo, ["ok", "bad\x00"], connection=tx.connection)
    tx.write("order-4")
    tx.commit()
    assert _orders(db_url) == ["order-3", "order-4"]
    assert app.pending_count() == 0
