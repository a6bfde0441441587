"""Claim time with a large backlog the claim must not touch: it must stay flat.

    python benchmarks/bench_claim.py [--rows 1000000] [--explain]

The worker claims from queue "default" (all priorities, or only priority 50 for the
"untaken priorities" shape). Each shape fills pq_tasks with PENDING claimable rows
(priority 50, due) plus `--rows` rows the claim has to step over:

  empty              nothing else (the baseline)
  other queues       pending, due, at a higher priority and older, in 20 other queues
  future             pending in "default" at a higher priority, run_at a day from now
  untaken priorities pending and due in "default" at priorities the worker does not take
  finished           completed rows

and times CLAIMS single-row claims (median), through a prepared statement as a worker's
connection does. The ratio of each shape to the empty table of the same worker settings, in
the same run, must stay under 2 (docs/performance.md, "Claim cost and indexes").
"""

from __future__ import annotations

import argparse
import statistics
import time

import psycopg

from _common import fresh_app
from pq.store.db import PsycopgExecutor
from pq.store.queries import Queries

SCHEMA = "pq_bench_claim"
PENDING = 2000
CLAIMS = 300
TARGET = 2.0

# (label, SQL filling the backlog of %(n)s rows, priorities the worker takes)
SHAPES: list[tuple[str, str, list[int] | None]] = [
    ("empty", "", None),
    (
        "other queues",
        "INSERT INTO {t} (name, queue, priority, run_at) SELECT 'bench:other', "
        "'other-' || (g %% 20), 90, now() - interval '1 day' FROM generate_series(1, %(n)s) g",
        None,
    ),
    (
        "future",
        "INSERT INTO {t} (name, priority, run_at) SELECT 'bench:later', 90, "
        "now() + interval '1 day' + make_interval(secs => g) FROM generate_series(1, %(n)s) g",
        None,
    ),
    ("empty, priority 50 only", "", [50]),
    (
        "untaken priorities",
        "INSERT INTO {t} (name, priority, run_at) SELECT 'bench:untaken', 60 + g %% 40, "
        "now() - interval '1 day' FROM generate_series(1, %(n)s) g",
        [50],
    ),
    (
        "finished",
        "INSERT INTO {t} (name, status, finished_at, attempts) SELECT 'bench:done', "
        "'completed', now() - make_interval(secs => g), 1 FROM generate_series(1, %(n)s) g",
        None,
    ),
]


def fill(url: str, backlog_sql: str, rows: int) -> None:
    table = f"{SCHEMA}.pq_tasks"
    with psycopg.connect(url) as conn:
        conn.execute(f"TRUNCATE {table}")
        if backlog_sql:
            conn.execute(backlog_sql.replace("{t}", table), {"n": rows})  # type: ignore[arg-type]
        conn.execute(
            f"INSERT INTO {table} (name, run_at) "
            "SELECT 'bench:todo', now() - interval '1 minute' FROM generate_series(1, %s)",
            (PENDING,),
        )
        conn.commit()
        conn.autocommit = True
        conn.execute(f"VACUUM ANALYZE {table}")


def median_claim_ms(url: str, queries: Queries, priorities: list[int] | None) -> float:
    timings = []
    with psycopg.connect(url, autocommit=True) as conn:
        ex = PsycopgExecutor(conn)  # prepares after a few runs, as the worker's connection
        for _ in range(CLAIMS):
            started = time.perf_counter()
            rows = queries.task_claim(
                ex, worker_id=1, limit=1, queues=["default"], priorities=priorities
            )
            timings.append((time.perf_counter() - started) * 1000)
            assert len(rows) == 1 and rows[0]["name"] == "bench:todo", rows
    return statistics.median(timings)


def explain(url: str, queries: Queries, priorities: list[int] | None) -> str:
    sql = queries.sql("task_claim")
    params = {"worker_id": 1, "limit": 1, "queues": ["default"], "priorities": priorities}
    with psycopg.connect(url) as conn:
        plan = conn.execute(f"EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) {sql}", params).fetchall()
        conn.rollback()
    return "\n".join("      " + r[0] for r in plan)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--explain", action="store_true", help="print each shape's plan")
    args = parser.parse_args()

    app = fresh_app(SCHEMA)
    print(
        f"claim time vs a backlog of {args.rows:,} rows the claim must step over "
        f"({PENDING} claimable rows, median of {CLAIMS} single-row claims)"
    )
    baselines: dict[str, float] = {}
    for label, backlog_sql, priorities in SHAPES:
        fill(app.database_url, backlog_sql, args.rows)
        ms = median_claim_ms(app.database_url, app.queries, priorities)
        worker = "all priorities" if priorities is None else f"priorities {priorities}"
        base = baselines.setdefault(worker, ms)
        ratio = ms / base
        verdict = "ok" if ratio < TARGET else "ABOVE TARGET"
        print(
            f"  {label:<24} {ms:7.3f} ms per claim   ratio {ratio:5.2f} to the empty table "
            f"({worker}; target < {TARGET}) {verdict}"
        )
        if args.explain:
            print(explain(app.database_url, app.queries, priorities))
    with psycopg.connect(app.database_url, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {SCHEMA} CASCADE")
    app.close()


if __name__ == "__main__":
    main()
