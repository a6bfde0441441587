"""The claim reads only its own queues' due rows of the priorities it takes: order across
queues and priorities, rows another claim holds skipped, and the plan of a claim beside a
large backlog (a seq scan or a walk over the backlog is what a user would notice)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from plans import plan_nodes

from pq import PQ
from pq.store.db import PsycopgExecutor
from taskmods import api

BACKLOG = 20_000


def test_a_worker_of_two_queues_runs_due_rows_by_priority_then_run_at_across_them(
    app: PQ, tmp_path: Path
) -> None:
    log = str(tmp_path / "order.log")
    now = datetime.now(UTC)
    ago = [now - timedelta(minutes=m) for m in range(10)]
    app.enqueue(api.append, log, "a-50-old", queue="a", run_at=ago[5])
    app.enqueue(api.append, log, "b-50-older", queue="b", run_at=ago[6])
    app.enqueue(api.append, log, "b-50-new", queue="b", run_at=ago[1])
    app.enqueue(api.append, log, "a-50-newer", queue="a", run_at=ago[2])
    app.enqueue(api.append, log, "b-80", queue="b", priority=80, run_at=ago[1])
    app.enqueue(api.append, log, "a-80", queue="a", priority=80, run_at=ago[3])
    app.enqueue(api.append, log, "a-10", queue="a", priority=10)
    app.enqueue(api.append, log, "later-99", queue="a", priority=99, run_at=now + timedelta(1))
    app.enqueue(api.append, log, "other-99", queue="c", priority=99)

    assert app.run_worker(burst=True, queues=["a", "b"], concurrency=1, prefetch=0) == 7

    assert Path(log).read_text().splitlines() == [
        "a-80",
        "b-80",
        "b-50-older",
        "a-50-old",
        "a-50-newer",
        "b-50-new",
        "a-10",
    ]
    assert app.pending_count() == 2  # the one not due yet and the other queue's


def _claim(app: PQ, conn: psycopg.Connection[Any], limit: int, **worker: Any) -> list[str]:
    rows = app.queries.task_claim(
        PsycopgExecutor(conn),
        worker_id=1,
        limit=limit,
        queues=worker.get("queues", ["default"]),
        priorities=worker.get("priorities"),
    )
    return [json.dumps(r["args"]) for r in rows]


def test_a_claim_skips_rows_another_claim_holds_without_waiting(app: PQ) -> None:
    for n in range(4):
        app.enqueue(api.echo, n, priority=50 + n % 2)  # 1 and 3 first (priority 51)
    with (
        psycopg.connect(app.database_url) as holder,
        psycopg.connect(app.database_url, autocommit=True) as conn,
    ):
        # Another worker's claim in flight holds the best row (priority 51, oldest).
        holder.execute(
            "SELECT id FROM pq_tasks WHERE status = 'pending' "
            "ORDER BY priority DESC, id LIMIT 1 FOR UPDATE"
        )
        conn.execute("SET lock_timeout = '2s'")  # a claim that waited would fail here
        assert _claim(app, conn, 2) == ["[3]", "[0]"]
        holder.rollback()
        assert _claim(app, conn, 5) == ["[1]", "[2]"]


def test_a_worker_of_some_priorities_claims_them_best_first(app: PQ) -> None:
    for n, priority in enumerate([10, 90, 50, 30, 90]):
        app.enqueue(api.echo, n, priority=priority)
    with psycopg.connect(app.database_url, autocommit=True) as conn:
        assert _claim(app, conn, 10, priorities=[10, 50, 30]) == ["[2]", "[3]", "[0]"]
        assert _claim(app, conn, 10, priorities=[90]) == ["[1]", "[4]"]


def test_queue_names_with_quotes_percent_signs_and_backslashes_are_claimed_as_named(
    app: PQ, tmp_path: Path
) -> None:
    # The worker writes its queue names into the claim's text as literals (Queries.claim_text)
    log = str(tmp_path / "ran.log")
    odd = ["it's", "100%", "back\\slash", "%(limit)s", "x'); DROP TABLE pq_tasks; --"]
    for name in odd:
        app.enqueue(api.append, log, name, queue=name)
    app.enqueue(api.append, log, "look-alike", queue="it''s")  # the quoted form: not served
    assert app.run_worker(burst=True, queues=odd, concurrency=1) == len(odd)
    assert sorted(Path(log).read_text().splitlines()) == sorted(odd)
    assert app.pending_count() == 1


def _fill_backlog(url: str) -> None:
    """Rows a claim of queue 'default' (all priorities, or priority 50 only) must not walk:
    other queues, not yet due at a higher priority, untaken priorities, finished."""
    with psycopg.connect(url) as conn:
        for sql in (
            "INSERT INTO pq_tasks (name, queue, priority) SELECT 'x:other', 'other', 90 "
            "FROM generate_series(1, %(n)s)",
            "INSERT INTO pq_tasks (name, priority, run_at) SELECT 'x:later', 90, "
            "now() + interval '1 day' FROM generate_series(1, %(n)s)",
            "INSERT INTO pq_tasks (name, priority, run_at) SELECT 'x:untaken', 70, "
            "now() - interval '1 hour' FROM generate_series(1, %(n)s)",
            "INSERT INTO pq_tasks (name, status, finished_at) SELECT 'x:done', 'completed', "
            "now() FROM generate_series(1, %(n)s)",
        ):
            conn.execute(sql, {"n": BACKLOG})
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE pq_tasks")


def test_a_claim_beside_a_large_backlog_reads_only_short_ranges_of_the_queue_index(
    app: PQ,
) -> None:
    _fill_backlog(app.database_url)
    app.enqueue(api.echo, "mine", priority=50)
    for priorities in (None, [50]):
        with psycopg.connect(app.database_url) as conn:
            # The statement a worker sends, and the plan its prepared statement keeps: the
            # generic one (only worker_id is a parameter; see Queries.claim_text).
            sql = app.queries.claim_text(conn, 5, ["default"], priorities)
            conn.execute("SET LOCAL plan_cache_mode = force_generic_plan")
            plan = conn.execute(
                f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {sql}", {"worker_id": 1}
            ).fetchone()
            conn.rollback()
        assert plan is not None
        scans = [n for n in plan_nodes(plan[0][0]["Plan"]) if n.get("Relation Name")]
        assert {n["Node Type"] for n in scans} <= {"Index Scan", "Index Only Scan", "ModifyTable"}
        assert {n.get("Index Name") for n in scans} <= {
            "pq_tasks_pending_idx",
            "pq_tasks_pkey",
            None,  # the UPDATE itself
        }
        # Each range stops at once: no node reads anywhere near the backlog's rows or pages
        # (a walk over the backlog's entries, even inside the index, reads hundreds of pages).
        assert max(n["Actual Rows"] * n["Actual Loops"] for n in scans) <= 5
        assert max(n.get("Rows Removed by Filter", 0) for n in scans) == 0
        ranges = [n for n in scans if n.get("Index Name") == "pq_tasks_pending_idx"]
        assert max(n["Shared Hit Blocks"] + n["Shared Read Blocks"] for n in ranges) <= 20
