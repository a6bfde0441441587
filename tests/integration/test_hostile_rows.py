"""A row with broken or hostile content (written with plain SQL) fails alone: the worker that
claims it, or rescues it, keeps running and runs the other tasks."""

from __future__ import annotations

import psycopg
import pytest

from pq import PQ
from taskmods import funcs

DEEP = "[" * 3000 + "]" * 3000

CASES = [
    ("options", '{"max_runtime": "5"}', "options.max_runtime must be a number of seconds"),
    ("options", "[1, 2]", "its options must be a JSON object, not array"),
    ("options", '{"retry_on": ["nope"]}', "its retry options are invalid"),
    ("options", '{"max_memory": "lots"}', "options.max_memory must be a number of bytes"),
    ("options", '{"backoff": {"base": "x"}}', "its retry options are invalid"),
    ("args", '{"a": 1}', "its args must be a JSON array, not object"),
    ("args", DEEP, "its args cannot be decoded: nested deeper"),
    ("kwargs", '{"k": ' + DEEP + "}", "its kwargs cannot be decoded"),
]


def _insert(db_url: str, column: str, value: str) -> int:
    with psycopg.connect(db_url, autocommit=True) as conn:
        row = conn.execute(
            f"INSERT INTO pq_tasks (name, {column}, max_attempts) "
            "VALUES ('taskmods.funcs:noop', %s::jsonb, 3) RETURNING id",
            (value,),
        ).fetchone()
    assert row is not None
    return int(row[0])


def _ended(db_url: str, task_id: int) -> tuple[str, str, int]:
    """(status, error, attempts) read with SQL: the point is what the worker recorded."""
    with psycopg.connect(db_url) as conn:
        row = conn.execute(
            "SELECT status, coalesce(error, ''), attempts FROM pq_tasks WHERE id = %s", (task_id,)
        ).fetchone()
    assert row is not None
    return row[0], row[1], row[2]


def test_each_broken_row_fails_alone_with_what_was_wrong(app: PQ, db_url: str) -> None:
    bad = {_insert(db_url, column, value): message for column, value, message in CASES}
    good = app.enqueue(funcs.add, 1, 2)
    assert app.run_worker(burst=True, concurrency=2) == len(CASES) + 1
    for task_id, message in bad.items():
        status, error, attempts = _ended(db_url, task_id)
        assert status == "failed" and message in error, (message, error)
        assert attempts == 1  # not retried: it could only fail the same way
    assert app.get_task(good).result == 3  # type: ignore[union-attr]


@pytest.mark.parametrize("options", ['{"retry_on": ["nope"]}', "[1]"])
def test_rescuing_a_hostile_row_does_not_crash_the_rescuer(
    app: PQ, db_url: str, options: str
) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        row = conn.execute(
            "INSERT INTO pq_tasks (name, options, status, attempts, max_attempts, worker_id,"
            " started_at) VALUES ('taskmods.funcs:noop', %s::jsonb, 'running', 1, 3, 999999,"
            " now()) RETURNING id",
            (options,),
        ).fetchone()
    assert row is not None
    good = app.enqueue(funcs.add, 2, 2)
    app.run_worker(burst=True)  # rescues the row of the vanished worker, then runs `good`
    assert _ended(db_url, int(row[0]))[0] == "failed"
    assert app.get_task(good).result == 4  # type: ignore[union-attr]
