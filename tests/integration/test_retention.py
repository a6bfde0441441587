"""Retention: workers delete finished tasks past their keep time (completed 7 days, failed and
cancelled 30 days by default, None keeps them), and the migration tunes autovacuum for the
queue table."""

from __future__ import annotations

import psycopg
import pytest

from pq import PQ
from taskmods import funcs


def finished_row(db_url: str, status: str, days_ago: float) -> int:
    with psycopg.connect(db_url) as conn:
        row = conn.execute(
            "INSERT INTO pq_tasks (name, status, finished_at)"
            " VALUES ('taskmods.funcs:noop', %s, now() - %s * interval '1 day') RETURNING id",
            (status, days_ago),
        ).fetchone()
        assert row is not None
        return int(row[0])


def existing(db_url: str, ids: list[int]) -> set[int]:
    with psycopg.connect(db_url) as conn:
        rows = conn.execute("SELECT id FROM pq_tasks WHERE id = ANY(%s)", (ids,)).fetchall()
        return {int(r[0]) for r in rows}


def test_workers_delete_finished_tasks_past_their_keep_time(app: PQ, db_url: str) -> None:
    old = [
        finished_row(db_url, "completed", 7.01),
        finished_row(db_url, "failed", 30.01),
        finished_row(db_url, "cancelled", 30.01),
    ]
    kept = [
        finished_row(db_url, "completed", 6.99),
        finished_row(db_url, "failed", 29.99),
        finished_row(db_url, "cancelled", 29.99),
    ]
    just_run = app.enqueue(funcs.noop)
    app.run_worker(burst=True)
    assert existing(db_url, old + kept + [just_run]) == {*kept, just_run}


def test_none_keeps_finished_tasks(app: PQ, db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PQ_RETAIN_COMPLETED", "none")
    monkeypatch.setenv("PQ_RETAIN_FAILED", "none")
    ids = [finished_row(db_url, status, 400) for status in ("completed", "failed", "cancelled")]
    app.run_worker(burst=True)
    assert existing(db_url, ids) == set(ids)


def test_a_shorter_keep_time_from_the_environment(
    app: PQ, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PQ_RETAIN_COMPLETED", "1h")
    hour_old = finished_row(db_url, "completed", 0.05)  # 72 minutes
    fresh = finished_row(db_url, "completed", 0.03)  # 43 minutes
    app.run_worker(burst=True)
    assert existing(db_url, [hour_old, fresh]) == {fresh}


def test_the_queue_table_vacuums_early(db_url: str) -> None:
    with psycopg.connect(db_url) as conn:
        row = conn.execute(
            "SELECT reloptions FROM pg_class WHERE oid = 'pq_tasks'::regclass"
        ).fetchone()
    assert row is not None
    assert "autovacuum_vacuum_scale_factor=0.01" in row[0]
