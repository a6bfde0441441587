"""Retention: workers delete finished tasks past their keep time (completed 7 days, failed and
cancelled 30 days by default, None keeps them), and the migration tunes autovacuum for the
queue table."""

from __future__ import annotations

import psycopg
import pytest

from pq import PQ, chain, chord, group
from taskmods import flowapp, funcs


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


def test_fired_and_cancelled_chord_counters_go_with_the_completed_keep_time_open_ones_stay(
    app: PQ, db_url: str
) -> None:
    add, boom, total = (app.task(f) for f in (flowapp.add, flowapp.boom, flowapp.total))
    fired = chord([add.s(1, 1), add.s(2, 2)], total.s()).delay()
    stuck = chain(add.s(1, 1), group(boom.s(), add.s(1)), total.s()).delay()  # never fires
    recent = chord([add.s(3, 3)], total.s()).delay()
    cancelled = chord([add.s(4, 4), add.s(5, 5)], total.s()).delay()  # never fires either ...
    assert cancelled.cancel() is True  # ... but nothing can ever add to it
    app.run_worker(burst=True)
    assert fired.result(timeout=10) == 6 and recent.result(timeout=10) == 6
    with psycopg.connect(db_url) as conn:
        (stuck_barrier,) = conn.execute(
            "SELECT id FROM pq_chords WHERE NOT fired AND callback->>'workflow_id' = %s",
            (str(stuck.id),),
        ).fetchone() or (None,)
        conn.execute(
            "UPDATE pq_chords SET created_at = now() - interval '8 days' WHERE id <> %s",
            (recent.id,),
        )
    app.enqueue(funcs.noop)
    app.run_worker(burst=True)  # a retention turn at start-up
    with psycopg.connect(db_url) as conn:
        left = {r[0] for r in conn.execute("SELECT id FROM pq_chords").fetchall()}
    assert left == {stuck_barrier, recent.id}


def test_a_chord_counter_goes_once_its_failed_member_is_pruned_never_before(
    app: PQ, db_url: str
) -> None:
    """A chord whose member failed for good never fires; its counter stays while the failed
    row does (an operator may retry it and complete the chord), and goes once retention has
    deleted that row: nothing can add to it any more."""
    add, boom, total = (app.task(f) for f in (flowapp.add, flowapp.boom, flowapp.total))
    failed = chord([add.s(1, 1), boom.s()], total.s()).delay()
    app.run_worker(burst=True)
    with psycopg.connect(db_url) as conn:
        conn.execute("UPDATE pq_chords SET created_at = now() - interval '8 days'")
        (barrier,) = conn.execute("SELECT id FROM pq_chords WHERE NOT fired").fetchone() or (None,)
        assert barrier is not None
    app.enqueue(funcs.noop)
    app.run_worker(burst=True)  # retention: the failed member is still there
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT id FROM pq_chords").fetchall() == [(barrier,)]
        conn.execute(  # its failed row passes the failed keep time (30 days)
            "UPDATE pq_tasks SET finished_at = now() - interval '31 days' "
            "WHERE workflow_id = %s AND status = 'failed'",
            (failed.id,),
        )
    app.enqueue(funcs.noop)
    app.run_worker(burst=True)  # retention deletes the failed row, then the counter
    with psycopg.connect(db_url) as conn:
        statuses = conn.execute(
            "SELECT status FROM pq_tasks WHERE workflow_id = %s", (failed.id,)
        ).fetchall()
        assert statuses == [("completed",)]
        assert conn.execute("SELECT id FROM pq_chords").fetchall() == []


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
