"""Migrations: idempotent, safe when run concurrently, confined to the chosen schema."""

from __future__ import annotations

import threading

import psycopg
import pytest

from pq import PQ, SchemaOutdatedError, TaskStatus
from pq.store.migrate import available_migrations, latest_version
from taskmods import funcs


def _tables(url: str, schema: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (schema,)
        ).fetchall()
    return {r[0] for r in rows}


def test_first_run_creates_the_tables_and_second_run_does_nothing(empty_db_url: str) -> None:
    app = PQ(empty_db_url)
    applied = app.run_db_migrations()
    assert [m.version for m in applied] == [m.version for m in available_migrations()]
    assert {"pq_tasks", "pq_periodic", "pq_workers", "pq_migrations"} <= _tables(
        empty_db_url, "public"
    )
    assert app.run_db_migrations() == []


def test_concurrent_migrations_apply_each_step_exactly_once(empty_db_url: str) -> None:
    results: list[int] = []
    errors: list[BaseException] = []

    def migrate() -> None:
        try:
            results.append(len(PQ(empty_db_url).run_db_migrations()))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=migrate) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    assert sorted(results) == [0, 0, 0, len(available_migrations())]


def test_schema_option_keeps_everything_in_that_schema(empty_db_url: str) -> None:
    app = PQ(empty_db_url, schema="jobs")
    app.run_db_migrations()
    assert "pq_tasks" in _tables(empty_db_url, "jobs")
    assert "pq_tasks" not in _tables(empty_db_url, "public")

    task_id = app.enqueue(funcs.add, 20, 22)
    app.run_worker(burst=True)
    done = app.get_task(task_id)
    assert done is not None and done.status is TaskStatus.COMPLETED and done.result == 42


def test_two_schemas_are_separate_queues(empty_db_url: str) -> None:
    blue, green = PQ(empty_db_url, schema="blue"), PQ(empty_db_url, schema="green")
    blue.run_db_migrations()
    green.run_db_migrations()
    blue.enqueue(funcs.noop)
    assert green.run_worker(burst=True) == 0
    assert blue.pending_count() == 1


def test_worker_refuses_an_unmigrated_database_and_names_the_command(empty_db_url: str) -> None:
    app = PQ(empty_db_url)
    with pytest.raises(SchemaOutdatedError, match=r"has no pq tables.*pq migrate"):
        app.run_worker(burst=True)


def test_worker_refuses_an_older_schema(db_url: str) -> None:
    with psycopg.connect(db_url) as conn:
        conn.execute("DELETE FROM pq_migrations WHERE version = %s", (latest_version(),))
        conn.execute(
            "INSERT INTO pq_migrations (version, name) VALUES (0, 'older') ON CONFLICT DO NOTHING"
        )
    with pytest.raises(SchemaOutdatedError, match="run `pq migrate"):
        PQ(db_url).run_worker(burst=True)


def test_worker_refuses_a_schema_missing_an_earlier_migration(db_url: str) -> None:
    # Migrations land out of order (numbers are reserved per feature): a database that has
    # the latest one but lacks an earlier one is outdated too, and says which.
    first = available_migrations()[0].version
    with psycopg.connect(db_url) as conn:
        conn.execute("DELETE FROM pq_migrations WHERE version = %s", (first,))
    with pytest.raises(SchemaOutdatedError, match=f"lacks migration\\(s\\) {first:04d}"):
        PQ(db_url).run_worker(burst=True)
