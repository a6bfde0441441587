"""Claim time with a large backlog the claim must not touch: it must stay flat.

    python benchmarks/bench_claim.py [--rows 1000000] [--explain] [--flow-only]

The worker claims from queue "default" (all priorities, or only priority 50 for the
"untaken priorities" shape). Each shape fills pq_tasks with PENDING claimable rows
(priority 50, due) plus `--rows` rows the claim has to step over:

  empty              nothing else (the baseline)
  other queues       pending, due, at a higher priority and older, in 20 other queues
  future             pending in "default" at a higher priority, run_at a day from now
  untaken priorities pending and due in "default" at priorities the worker does not take
  finished           completed rows

and times CLAIMS single-row claims (median), through a prepared statement as a worker's
connection does. Each claim alternates with one on an empty table of its own schema (only
the claimable rows), so both medians see the same load: on a shared machine the load moves
more between shapes than the backlog does. The ratio of each shape to that empty table must
stay under 2 (docs/performance.md, "Claim cost and indexes").

The flow claim (rate limits, concurrency keys: rows 'waiting') is timed the same way: 2,000
due waiting rows of one concurrency key plus `--rows` waiting rows of "default" not yet due
(at a higher priority, or at the same one), one full flow claim of one row at a time
(pq.worker.flow.claim_flow: the groups, the key's lock and count, the claim) on a session with
JIT off, as the worker's is.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import psycopg

from _common import fresh_app
from pq.store.db import PsycopgExecutor
from pq.store.queries import Queries
from pq.worker.flow import claim_flow

SCHEMA = "pq_bench_claim"
EMPTY_SCHEMA = "pq_bench_claim_empty"
PENDING = 2000
CLAIMS = 300
TARGET = 2.0

# (label, SQL filling the backlog of %(n)s rows, priorities the worker takes)
SHAPES: list[tuple[str, str, list[int] | None]] = [
    ("empty (both tables)", "", None),
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


# (label, SQL of %(n)s waiting rows not yet due in the worker's queue) for the flow claim
FLOW_SHAPES: list[tuple[str, str]] = [
    ("flow: empty (both)", ""),
    (
        "flow: future, higher",
        "INSERT INTO {t} (name, priority, status, run_at, concurrency_key, concurrency_limit) "
        "SELECT 'bench:later', 90, 'waiting', now() + interval '1 day' + make_interval(secs => g),"
        " 'later', 5 FROM generate_series(1, %(n)s) g",
    ),
    (
        "flow: future, same",
        "INSERT INTO {t} (name, status, run_at, concurrency_key, concurrency_limit) "
        "SELECT 'bench:later', 'waiting', now() + interval '1 day' + make_interval(secs => g), "
        "'todo', 1000000 FROM generate_series(1, %(n)s) g",
    ),
]
# The due waiting rows every flow claim of the run can take (the rest is backlog).
FLOW_DUE_ROWS = (
    "INSERT INTO {t} (name, status, run_at, concurrency_key, concurrency_limit) "
    "SELECT 'bench:todo', 'waiting', now() - interval '1 minute', 'todo', 1000000 "
    "FROM generate_series(1, %(n)s)"
)


def fill(url: str, schema: str, backlog_sql: str, rows: int, *, flow: bool = False) -> None:
    table = f"{schema}.pq_tasks"
    with psycopg.connect(url) as conn:
        conn.execute(f"TRUNCATE {table}")
        if backlog_sql:
            conn.execute(backlog_sql.replace("{t}", table), {"n": rows})  # type: ignore[arg-type]
        if flow:
            conn.execute(FLOW_DUE_ROWS.replace("{t}", table), {"n": PENDING})  # type: ignore[arg-type]
        else:
            conn.execute(
                f"INSERT INTO {table} (name, run_at) "
                "SELECT 'bench:todo', now() - interval '1 minute' FROM generate_series(1, %s)",
                (PENDING,),
            )
        conn.commit()
        conn.autocommit = True
        conn.execute(f"VACUUM ANALYZE {table}")


def median_claims_ms(
    url: str, apps: tuple[Queries, Queries], priorities: list[int] | None
) -> tuple[float, float]:
    """Medians of claims on the empty table and on the backlog table, taken alternately."""
    timings: tuple[list[float], list[float]] = ([], [])
    with psycopg.connect(url, autocommit=True) as one, psycopg.connect(url, autocommit=True) as two:
        # Each executor prepares after a few runs, as a worker's connection does.
        executors = (PsycopgExecutor(one), PsycopgExecutor(two))
        for _ in range(CLAIMS):
            for queries, ex, spent in zip(apps, executors, timings, strict=True):
                started = time.perf_counter()
                rows = queries.task_claim(
                    ex, worker_id=1, limit=1, queues=["default"], priorities=priorities
                )
                spent.append((time.perf_counter() - started) * 1000)
                assert len(rows) == 1 and rows[0]["name"] == "bench:todo", rows
    return statistics.median(timings[0]), statistics.median(timings[1])


def median_flow_claims_ms(url: str, apps: tuple[Queries, Queries]) -> tuple[float, float]:
    """As median_claims_ms, for the flow claim on sessions with JIT off (as the worker's)."""
    timings: tuple[list[float], list[float]] = ([], [])
    with psycopg.connect(url, autocommit=True) as one, psycopg.connect(url, autocommit=True) as two:
        executors = (PsycopgExecutor(one), PsycopgExecutor(two))
        for conn in (one, two):
            conn.execute("SET jit = off")
        for _ in range(CLAIMS):
            for queries, ex, spent in zip(apps, executors, timings, strict=True):
                started = time.perf_counter()
                claim = claim_flow(
                    queries, ex, worker_id=1, free=1, queues=["default"], priorities=None
                )
                spent.append((time.perf_counter() - started) * 1000)
                assert [r["name"] for r in claim.rows] == ["bench:todo"], claim
    return statistics.median(timings[0]), statistics.median(timings[1])


def explain(url: str, queries: Queries, priorities: list[int] | None) -> str:
    with psycopg.connect(url) as conn:
        # the worker's text and the plan its prepared statement keeps (Queries.claim_text)
        sql = queries.claim_text(conn, 1, ["default"], priorities)
        conn.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        params = {"worker_id": 1}
        plan = conn.execute(f"EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) {sql}", params).fetchall()
        conn.rollback()
    return "\n".join("      " + r[0] for r in plan)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--explain", action="store_true", help="print each shape's plan")
    parser.add_argument("--flow-only", action="store_true", help="only the flow claim's shapes")
    args = parser.parse_args()

    empty, app = fresh_app(EMPTY_SCHEMA), fresh_app(SCHEMA)
    url = app.database_url
    print(
        f"claim time vs a backlog of {args.rows:,} rows the claim must step over "
        f"({PENDING} claimable rows; median of {CLAIMS} single-row claims, each alternating "
        f"with one on an empty table); load average {os.getloadavg()[0]:.1f}"
    )
    for label, backlog_sql, priorities in [] if args.flow_only else SHAPES:
        fill(url, EMPTY_SCHEMA, "", 0)
        fill(url, SCHEMA, backlog_sql, args.rows)
        base, ms = median_claims_ms(url, (empty.queries, app.queries), priorities)
        worker = "all priorities" if priorities is None else f"priorities {priorities}"
        ratio = ms / base
        verdict = "ok" if ratio < TARGET else "ABOVE TARGET"
        print(
            f"  {label:<20} {ms:7.3f} ms per claim (empty table {base:6.3f} ms)  "
            f"ratio {ratio:5.2f} (worker of {worker}; target < {TARGET}) {verdict}"
        )
        if args.explain:
            print(explain(url, app.queries, priorities))
    for label, backlog_sql in FLOW_SHAPES:
        fill(url, EMPTY_SCHEMA, "", 0, flow=True)
        fill(url, SCHEMA, backlog_sql, args.rows, flow=True)
        base, ms = median_flow_claims_ms(url, (empty.queries, app.queries))
        ratio = ms / base
        verdict = "ok" if ratio < TARGET else "ABOVE TARGET"
        print(
            f"  {label:<20} {ms:7.3f} ms per claim (empty table {base:6.3f} ms)  "
            f"ratio {ratio:5.2f} (flow claim, worker of all priorities; target < {TARGET}) "
            f"{verdict}"
        )
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {SCHEMA} CASCADE")
        conn.execute(f"DROP SCHEMA {EMPTY_SCHEMA} CASCADE")
    app.close()
    empty.close()


if __name__ == "__main__":
    main()
