"""Migration 0002 builds its indexes with CREATE INDEX CONCURRENTLY on a live table: enqueues
go on while it runs, two migrators do not race or deadlock, a build that was cancelled half
way is dropped and built again on the next run, and it lands on a database that already has
the later migrations (numbers are reserved per feature and land out of order)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest

from pq import PQ, SchemaOutdatedError, TaskStatus
from pq.store.migrate import Migration
from taskmods import funcs
from waiting import wait_until

ROWS = 20_000
OLD_INDEXES = (
    "DROP INDEX pq_tasks_pending_idx",
    "DROP INDEX pq_tasks_waiting_idx",
    "CREATE INDEX pq_tasks_claim_idx ON pq_tasks (priority DESC, run_at, id) INCLUDE (queue) "
    "WHERE status = 'pending'",
    "CREATE INDEX pq_tasks_waiting_idx ON pq_tasks (priority DESC, run_at, id) "
    "INCLUDE (queue, rate_key, concurrency_key) WHERE status = 'waiting'",
    "DELETE FROM pq_migrations WHERE version = 2",
)


def _as_before_0002(url: str, rows: int = ROWS) -> None:
    """The database as pq left it before 0002 existed: 0001, 0003-0007 applied, old indexes,
    and a table with rows."""
    with psycopg.connect(url) as conn:
        for statement in OLD_INDEXES:
            conn.execute(statement)  # type: ignore[arg-type]
        conn.execute(
            "INSERT INTO pq_tasks (name, queue) SELECT 'taskmods.funcs:noop', 'q' || (g %% 7) "
            "FROM generate_series(1, %s) AS g",
            (rows,),
        )


def _indexes(url: str) -> dict[str, tuple[bool, str]]:
    """{name: (valid, definition)} of pq_tasks' indexes."""
    with psycopg.connect(url) as conn:
        found = conn.execute(
            "SELECT c.relname, i.indisvalid, pg_get_indexdef(i.indexrelid) FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = 'pq_tasks'::regclass"
        ).fetchall()
    return {name: (valid, definition) for name, valid, definition in found}


@contextmanager
def _writer_holding_the_table(url: str) -> Iterator[psycopg.Connection[Any]]:
    """An open transaction that wrote to pq_tasks: CREATE INDEX CONCURRENTLY waits for it
    (without blocking anyone else), so a test can act while the build is under way."""
    with psycopg.connect(url) as conn:
        conn.execute("INSERT INTO pq_tasks (name) VALUES ('taskmods.funcs:noop')")
        yield conn


def _build_waiting(url: str) -> int:
    """The pid of the backend running a CREATE INDEX CONCURRENTLY, once it waits for a lock."""

    def find() -> int | None:
        with psycopg.connect(url) as conn:
            row = conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                "AND query ILIKE 'CREATE INDEX CONCURRENTLY%%' AND wait_event_type = 'Lock'"
            ).fetchone()
        return None if row is None else int(row[0])

    return wait_until(find, timeout=30)


def _migrate_in_thread(url: str) -> tuple[threading.Thread, list[Any]]:
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append(PQ(url).run_db_migrations())
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


def _versions(applied: list[Migration]) -> list[int]:
    return [m.version for m in applied]


def test_0002_lands_on_a_database_that_has_the_later_migrations(db_url: str) -> None:
    _as_before_0002(db_url, rows=100)
    with pytest.raises(SchemaOutdatedError, match=r"lacks migration\(s\) 0002"):
        PQ(db_url).run_worker(burst=True)

    assert _versions(PQ(db_url).run_db_migrations()) == [2]

    indexes = _indexes(db_url)
    assert "pq_tasks_claim_idx" not in indexes
    assert indexes["pq_tasks_pending_idx"][0]
    assert (
        "(queue, priority, run_at, id) WHERE (status = 'pending'"
        in (indexes["pq_tasks_pending_idx"][1])
    )
    assert (
        "(queue, priority, run_at, id) WHERE (status = 'waiting'"
        in (indexes["pq_tasks_waiting_idx"][1])
    )
    app = PQ(db_url)
    task_id = app.enqueue(funcs.add, 1, 2)
    assert app.run_worker(burst=True, queues=["default"]) == 1
    task = app.get_task(task_id)
    assert task is not None and task.status is TaskStatus.COMPLETED and task.result == 3


def test_a_new_database_migrates_while_a_transaction_is_open_elsewhere(
    empty_db_url: str,
) -> None:
    # A concurrent build waits for every older transaction in the database; on a new,
    # empty table the indexes are built in a transaction instead, so a caller's own open
    # transaction (a Django test, a web request) cannot hold the migration up.
    with psycopg.connect(empty_db_url) as open_elsewhere:
        open_elsewhere.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        open_elsewhere.execute("SELECT 1")  # holds its snapshot until it ends
        applied = _within(30, PQ(empty_db_url).run_db_migrations)
    assert 2 in _versions(applied)
    assert _indexes(empty_db_url)["pq_tasks_pending_idx"][0]


def test_enqueues_go_on_while_the_index_is_built(db_url: str) -> None:
    _as_before_0002(db_url)
    app = PQ(db_url)
    with _writer_holding_the_table(db_url) as writer:
        migration, outcome = _migrate_in_thread(db_url)
        _build_waiting(db_url)
        # A plain CREATE INDEX would now hold a SHARE lock request that every INSERT queues
        # behind until the writer ends; CONCURRENTLY lets the enqueue through.
        enqueued = _within(10, lambda: app.enqueue(funcs.add, 2, 3))
        assert migration.is_alive() and not outcome
        writer.commit()
    migration.join(60)
    assert _versions(outcome[0]) == [2]
    assert _indexes(db_url)["pq_tasks_pending_idx"][0]
    assert app.run_worker(burst=True, queues=["default"]) == 2  # the writer's row and ours
    task = app.get_task(enqueued)
    assert task is not None and task.result == 5


def _within(seconds: float, fn: Callable[[], Any]) -> Any:
    done: list[Any] = []
    thread = threading.Thread(target=lambda: done.append(fn()), daemon=True)
    thread.start()
    thread.join(seconds)
    assert done, f"still blocked after {seconds}s"
    return done[0]


def test_two_migrators_at_once_apply_0002_once_without_deadlock(db_url: str) -> None:
    _as_before_0002(db_url)
    with _writer_holding_the_table(db_url) as writer:
        first, first_outcome = _migrate_in_thread(db_url)
        _build_waiting(db_url)
        second, second_outcome = _migrate_in_thread(db_url)
        first.join(0.5)  # the second is now waiting for the migration lock
        writer.commit()
    first.join(60)
    second.join(60)
    results = sorted([first_outcome[0], second_outcome[0]], key=len)
    assert [_versions(r) for r in results] == [[], [2]]
    assert _indexes(db_url)["pq_tasks_pending_idx"][0]


def test_a_build_cancelled_half_way_is_dropped_and_built_again(db_url: str) -> None:
    _as_before_0002(db_url)
    with _writer_holding_the_table(db_url) as writer:
        migration, outcome = _migrate_in_thread(db_url)
        pid = _build_waiting(db_url)
        with psycopg.connect(db_url) as conn:
            conn.execute("SELECT pg_cancel_backend(%s)", (pid,))
        migration.join(60)
        writer.commit()
    assert isinstance(outcome[0], psycopg.errors.QueryCanceled)
    assert _indexes(db_url)["pq_tasks_pending_idx"][0] is False  # left INVALID

    assert _versions(PQ(db_url).run_db_migrations()) == [2]
    assert _indexes(db_url)["pq_tasks_pending_idx"][0] is True
    app = PQ(db_url)
    app.enqueue(funcs.noop, queue="after")
    assert app.run_worker(burst=True, queues=["after"]) == 1
