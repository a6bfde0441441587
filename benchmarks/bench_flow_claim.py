"""The cost of claiming and recording tasks that have no flow control, before and after
workflows and flow control (issue 14) were added, measured in the same run.

    python benchmarks/bench_flow_claim.py [--tasks 4000] [--batch 8] [--rounds 6]

A worker turn records the attempts that ended and claims new rows in one pipelined round trip
(Queries.task_finish_and_claim). Since issue 14, the recording statement also writes workflow
links and chord counters, and limited tasks are written 'waiting' and started by a separate
flow claim. For tasks with no limit and no workflow the claim statement is unchanged and the
recording statement (task_finish.sql; batches with workflow rows use flow_finish.sql) must
cost the same: this times full turns (record `batch` completions and claim `batch` rows) with
today's statements against the recording statement as it was before (kept below, verbatim),
alternating in rounds so drift hits both alike. It also times the
flow claim a worker runs once per poll interval when nothing waits (absolute, no limit).
Target: today / before <= 1.10 (noise on a loaded machine; it was about 1.0 when measured).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any

import psycopg
from psycopg.rows import dict_row

from _common import fresh_app
from pq import PQ
from pq.store.db import PsycopgExecutor
from pq.worker.flow import claim_flow

SCHEMA = "pq_bench_flow_claim"

# pq/store/sql/task_finish.sql before issue 14 (the statement part, verbatim but for one line break)
BEFORE_FINISH = """
WITH finished AS (
    SELECT *
    FROM jsonb_to_recordset(%(rows)s::jsonb) AS r(
        id bigint, attempt integer, worker_id bigint, status text, outcome text,
        error text, result jsonb, retry_at timestamptz, record jsonb)
)
UPDATE {schema}.pq_tasks AS t
SET status      = CASE WHEN t.parked IS NOT NULL THEN 'pending'
                       WHEN t.cancel_requested_at IS NOT NULL AND f.status <> 'completed'
                       THEN 'cancelled'
                       ELSE f.status END,
    outcome     = CASE WHEN t.parked IS NULL AND t.cancel_requested_at IS NOT NULL
                            AND f.status <> 'completed' THEN 'cancelled'
                       ELSE f.outcome END,
    error       = CASE WHEN t.parked IS NOT NULL THEN NULL ELSE f.error END,
    result      = CASE WHEN t.parked IS NOT NULL THEN NULL ELSE f.result END,
    finished_at = CASE WHEN t.parked IS NOT NULL THEN NULL
                       WHEN f.status = 'pending' AND t.cancel_requested_at IS NULL THEN NULL
                       ELSE now() END,
    run_at      = CASE
                    WHEN t.parked IS NOT NULL
                    THEN COALESCE((t.parked->>'run_at')::timestamptz, now())
                    WHEN f.status = 'pending' AND t.cancel_requested_at IS NULL THEN f.retry_at
                    ELSE t.run_at END,
    history     = t.history || jsonb_build_array(f.record),
    worker_id   = NULL,
    cancel_requested_at = NULL,
    name         = COALESCE(t.parked->>'name', t.name),
    queue        = COALESCE(t.parked->>'queue', t.queue),
    priority     = COALESCE((t.parked->>'priority')::smallint, t.priority),
    args         = COALESCE(t.parked->'args', t.args),
    kwargs       = COALESCE(t.parked->'kwargs', t.kwargs),
    options      = COALESCE(t.parked->'options', t.options),
    max_attempts = COALESCE((t.parked->>'max_attempts')::integer, t.max_attempts),
    attempts     = CASE WHEN t.parked IS NOT NULL THEN 0 ELSE t.attempts END,
    parked       = NULL
FROM finished AS f
WHERE t.id = f.id
  AND t.attempts = f.attempt
  AND t.worker_id = f.worker_id
  AND t.status = 'running'
RETURNING t.id, t.status, t.queue,
          pg_notify(%(channel_done)s, t.id::text || ':' || t.status) AS notified_done,
          CASE WHEN t.status = 'pending' AND t.run_at <= now()
               THEN pg_notify(%(channel)s, 't:' || t.queue) END AS notified_due
"""


def fill(app: PQ, n: int) -> None:
    with psycopg.connect(app.database_url, autocommit=True) as conn:
        conn.execute(f"TRUNCATE {SCHEMA}.pq_tasks")
        conn.execute(
            f"INSERT INTO {SCHEMA}.pq_tasks (name) SELECT 'bench:todo' FROM generate_series(1, %s)",
            (n,),
        )
        conn.execute(f"VACUUM ANALYZE {SCHEMA}.pq_tasks")


def record(row: dict[str, Any], worker_id: int) -> dict[str, Any]:
    return {
        "id": row["id"], "attempt": row["attempts"], "worker_id": worker_id,
        "status": "completed", "outcome": "success", "error": None, "result": 1,
        "retry_at": None, "record": {"attempt": row["attempts"], "outcome": "success"},
    }  # fmt: skip


def turns(app: PQ, conn: psycopg.Connection[Any], before: bool, batch: int, n: int) -> float:
    """Milliseconds per turn over `n` turns (record the last batch, claim the next)."""
    q = app.queries
    finish_sql = q.render(BEFORE_FINISH) if before else q.sql("task_finish")
    claim_params = {"worker_id": 1, "limit": batch, "queues": ["default"], "priorities": None}
    finish_params = {"channel_done": q.channel_done, "channel": q.channel, "done_key": q.done_key}
    claimed: list[dict[str, Any]] = []
    started = time.perf_counter()
    for _ in range(n):
        with conn.pipeline():
            if claimed:
                rows = json.dumps([record(r, 1) for r in claimed])
                conn.cursor().execute(finish_sql, {**finish_params, "rows": rows})
            cur = conn.cursor(row_factory=dict_row)
            cur.execute(q.sql("task_claim"), claim_params)
        claimed = cur.fetchall()
    return (time.perf_counter() - started) * 1000 / n


def idle_flow_claim_ms(app: PQ, conn: psycopg.Connection[Any], n: int = 200) -> float:
    ex = PsycopgExecutor(conn)
    started = time.perf_counter()
    for _ in range(n):
        claim = claim_flow(
            app.queries, ex, worker_id=1, free=8, queues=["default"], priorities=None
        )
        assert not claim.rows
    return (time.perf_counter() - started) * 1000 / n


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=4000)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()
    app = fresh_app(SCHEMA)
    per_round = args.tasks // args.batch // 2 - 1
    timings: dict[bool, list[float]] = {True: [], False: []}
    with psycopg.connect(app.database_url, autocommit=True) as conn:
        for _ in range(args.rounds):
            for before in (True, False):
                fill(app, args.tasks)
                timings[before].append(turns(app, conn, before, args.batch, per_round))
        idle = idle_flow_claim_ms(app, conn)
    before_ms, now_ms = statistics.median(timings[True]), statistics.median(timings[False])
    ratio = now_ms / before_ms
    verdict = "ok" if ratio <= 1.10 else "ABOVE TARGET"
    print(f"record + claim turns of {args.batch} unlimited tasks, median of {args.rounds} rounds")
    print(f"  before issue 14: {before_ms:7.3f} ms per turn")
    print(f"  today:           {now_ms:7.3f} ms per turn   ratio {ratio:4.2f}", end=" ")
    print(f"(target <= 1.10) {verdict}")
    print(f"  flow claim when nothing waits (once per poll interval): {idle:6.3f} ms")
    with psycopg.connect(app.database_url, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {SCHEMA} CASCADE")
    app.close()


if __name__ == "__main__":
    main()
