"""The flow claim (rate limits, concurrency keys: status 'waiting') reads only the due
waiting rows of its own queues and priorities: rows held for later in the worker's own queue
are never walked (a walk over them is what a user notices: every flow claim and every idle
poll reading the whole backlog), and what it claims is still best first."""

from __future__ import annotations

from typing import Any

import psycopg
from plans import plan_nodes

from pq import PQ
from pq.store.db import PsycopgExecutor

BACKLOG = 20_000


def _waiting(conn: psycopg.Connection[Any], n: int, **row: Any) -> None:
    """n waiting rows of concurrency key `key` (limit 5) with `run_at` = now() + `offset`."""
    conn.execute(
        "INSERT INTO pq_tasks (name, queue, priority, status, run_at, concurrency_key, "
        "concurrency_limit) SELECT %(name)s, %(queue)s, %(priority)s, 'waiting', "
        "now() + %(offset)s::interval, %(key)s, 5 FROM generate_series(1, %(n)s)",
        {"n": n, "queue": "default", "priority": 50, "offset": "-1 minute", **row},
    )


def _fill(url: str) -> None:
    with psycopg.connect(url) as conn:
        # Not due yet, in the worker's own queue, at a higher priority and at its own.
        _waiting(conn, BACKLOG, name="x:later", priority=90, offset="1 day", key="later")
        _waiting(conn, BACKLOG, name="x:later-50", offset="1 hour", key="later")
        _waiting(conn, BACKLOG, name="x:other", queue="other", priority=90, key="other")
        _waiting(conn, 3, name="x:mine", key="mine")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE pq_tasks")


def _scans(app: PQ, name: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    with psycopg.connect(app.database_url) as conn:
        sql = app.queries.sql(name)
        if name in ("flow_waiting_keys", "flow_claim"):
            # The text the worker sends (its values written in: PlannedTexts.claim_text), on
            # a generic plan: one its prepared statement may keep (flow_claim's keys stay
            # parameters, so that plan is made without them).
            sql = app.queries.claim_text(
                conn, params.pop("limit"), params.pop("queues"), params.pop("priorities"), name
            )
            conn.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        plan = conn.execute(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {sql}", params).fetchone()
        conn.rollback()
    assert plan is not None
    return [n for n in plan_nodes(plan[0][0]["Plan"]) if n.get("Relation Name")]


def test_the_flow_claim_beside_many_waiting_rows_not_yet_due_reads_only_the_due_range(
    app: PQ,
) -> None:
    _fill(app.database_url)
    base = {"queues": ["default"], "limit": 20}
    claim = {**base, "worker_id": 1, "started_at": None, "rate_key": None}
    statements = [
        ("flow_waiting_keys", {**base, "priorities": None}),
        ("flow_waiting_keys", {**base, "priorities": [50, 90]}),
        ("flow_claim", {**claim, "priorities": None, "concurrency_key": "mine"}),
        ("flow_claim", {**claim, "priorities": [50, 90], "concurrency_key": "mine"}),
    ]
    for name, params in statements:
        scans = _scans(app, name, dict(params))
        assert "Seq Scan" not in {n["Node Type"] for n in scans}, name
        assert {n.get("Index Name") for n in scans} <= {
            "pq_tasks_waiting_idx",
            "pq_tasks_pkey",
            None,
        }
        # No node reads anywhere near the backlog's rows or pages (a walk over its entries,
        # even inside the index without a heap visit, reads hundreds of pages).
        assert max(n["Actual Rows"] * n["Actual Loops"] for n in scans) <= 5, name
        assert max(n.get("Rows Removed by Filter", 0) for n in scans) == 0, name
        # (A bitmap scan counts its index's pages too; the primary key scan carries the
        # claim's whole subquery, and the UPDATE the new index entries.)
        ranges = [
            n["Shared Hit Blocks"] + n["Shared Read Blocks"]
            for n in scans
            if n.get("Index Name") == "pq_tasks_waiting_idx" or n["Node Type"] == "Bitmap Heap Scan"
        ]
        assert max(ranges) <= 20, (name, ranges)


def test_the_flow_claim_ranks_due_groups_best_first_and_claims_only_due_rows(app: PQ) -> None:
    with psycopg.connect(app.database_url) as conn:
        _waiting(conn, 2, name="x:low", priority=10, key="low")
        _waiting(conn, 2, name="x:high", priority=70, key="high")
        _waiting(conn, 2, name="x:high-later", priority=70, key="high", offset="1 hour")
        _waiting(conn, 2, name="x:top-later", priority=99, key="top", offset="1 hour")
        _waiting(conn, 2, name="x:elsewhere", queue="other", priority=99, key="elsewhere")
    with psycopg.connect(app.database_url, autocommit=True) as conn:
        ex = PsycopgExecutor(conn)
        groups = app.queries.flow_waiting_keys(ex, ["default"], None, 20)
        assert [g["concurrency_key"] for g in groups] == ["high", "low"]
        groups = app.queries.flow_waiting_keys(ex, ["default", "other"], [10, 99], 20)
        assert [g["concurrency_key"] for g in groups] == ["elsewhere", "low"]
        params = {"worker_id": 1, "started_at": None, "rate_key": None, "limit": 10}
        rows = app.queries.flow_claim(
            ex, {**params, "queues": ["default"], "priorities": None, "concurrency_key": "high"}
        )
        assert sorted(r["name"] for r in rows) == ["x:high", "x:high"]
        rows = app.queries.flow_claim(
            ex, {**params, "queues": ["default"], "priorities": [10], "concurrency_key": "top"}
        )
        assert rows == []


def test_the_producer_sessions_do_not_jit_compile(app: PQ) -> None:
    # A short statement whose plan is estimated badly would otherwise spend 0.5 s+ compiling.
    with app.executor() as ex:
        assert ex.fetch("SHOW jit", {}) == [{"jit": "off"}]
