"""Database time of every dashboard page with 1M finished rows: each must stay under 100 ms.

    PQ_DATABASE_URL=postgresql://... python benchmarks/bench_dashboard.py [--rows 1000000]

Fills a schema of its own with `--rows` finished tasks spread over 30 days (completed, failed,
cancelled; several queues and names), a few thousand pending and some running ones, workers
and schedules. Then it renders each page through the real dashboard app (in process), records
every statement the page sends, and runs each again under EXPLAIN (ANALYZE, BUFFERS): the
page's database time is the sum of their planning and execution times (median of 5 runs).
It prints each page's time with its ratio to the 100 ms limit (ratio = limit / time; target
>= 1) and flags any sequential scan of pq_tasks.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import psycopg

from _common import fresh_app
from pq import PQ
from pq.store import db as store_db

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from pq.dashboard import dashboard

SCHEMA = "pq_bench_dashboard"
LIMIT_MS = 100.0
RUNS = 5
NAMES = [f"bench.jobs:job_{i}" for i in range(20)]


def fill(app: PQ, rows: int) -> None:
    t = f'"{SCHEMA}"'
    with psycopg.connect(app.database_url) as conn:
        conn.execute(
            f"""
            INSERT INTO {t}.pq_tasks (name, queue, status, args, created_at, run_at, started_at,
                                      finished_at, attempts, outcome, error, result, history)
            SELECT (%(names)s::text[])[1 + g %% 20],
                   (ARRAY['default', 'emails', 'reports'])[1 + g %% 3],
                   s.status, '[1, 2]', f.at - interval '2 seconds', f.at - interval '2 seconds',
                   f.at - interval '1 second', f.at, 1,
                   CASE s.status WHEN 'completed' THEN 'success' WHEN 'failed' THEN 'exception'
                                 ELSE 'cancelled' END,
                   CASE WHEN s.status = 'failed' THEN 'Traceback ...\nValueError: boom' END,
                   CASE WHEN s.status = 'completed' THEN '3' END::jsonb,
                   jsonb_build_array(jsonb_build_object('attempt', 1, 'outcome', 'success',
                                     'duration', 1.0, 'max_rss_kib', 20000))
            FROM generate_series(1, %(rows)s) AS g,
                 LATERAL (SELECT now() - (%(rows)s - g) * interval '2.592 seconds' AS at) AS f,
                 LATERAL (SELECT CASE WHEN g %% 50 = 0 THEN 'cancelled'
                                      WHEN g %% 12 = 0 THEN 'failed'
                                      ELSE 'completed' END AS status) AS s
            """,
            {"rows": rows, "names": NAMES},
        )
        conn.execute(
            f"INSERT INTO {t}.pq_tasks (name, queue, client_id) "
            "SELECT %(name)s, (ARRAY['default', 'emails'])[1 + g %% 2], 'client-' || g "
            "FROM generate_series(1, 5000) AS g",
            {"name": NAMES[0]},
        )
        # Two workflows among the finished rows: a chain of 10 steps and a group of 5,000
        # (the workflow page reads every row of one, so the big one is its worst case).
        for workflow_id, first, steps in ((1, 1000, 10), (2, 2000, 5000)):
            conn.execute(
                f"UPDATE {t}.pq_tasks SET workflow_id = %(w)s, workflow_step = id - %(first)s "
                "WHERE id >= %(first)s AND id < %(first)s + %(steps)s",
                {"w": workflow_id, "first": first, "steps": steps},
            )
        conn.execute(
            f"INSERT INTO {t}.pq_workers (host, pid, version, queues, concurrency, lease_seconds) "
            "SELECT 'bench', g, 'x', ARRAY['default', 'emails'], 4, 30 "
            "FROM generate_series(1, 5) AS g"
        )
        conn.execute(
            f"UPDATE {t}.pq_tasks SET status = 'running', started_at = now(), attempts = 1, "
            f"worker_id = (SELECT min(id) FROM {t}.pq_workers) "
            f"WHERE id IN (SELECT id FROM {t}.pq_tasks WHERE status = 'pending' LIMIT 8)"
        )
        conn.execute(
            f"INSERT INTO {t}.pq_periodic (name, key, every_seconds, next_run) "
            "SELECT %(name)s, 'k' || g, 60 * g, now() + g * interval '1 minute' "
            "FROM generate_series(1, 20) AS g",
            {"name": NAMES[1]},
        )
        conn.commit()
        conn.autocommit = True
        conn.execute(f"VACUUM ANALYZE {t}.pq_tasks")
        conn.execute(f"VACUUM ANALYZE {t}.pq_workers")


@contextmanager
def recording() -> Iterator[list[tuple[str, Mapping[str, Any]]]]:
    """Records every statement sent through pq's executor (the measurement's only hook)."""
    seen: list[tuple[str, Mapping[str, Any]]] = []
    original = store_db.PsycopgExecutor.fetch

    def fetch(self: store_db.PsycopgExecutor, query: str, params: Mapping[str, Any]) -> Any:
        seen.append((query, dict(params)))
        return original(self, query, params)

    store_db.PsycopgExecutor.fetch = fetch  # type: ignore[method-assign]
    try:
        yield seen
    finally:
        store_db.PsycopgExecutor.fetch = original  # type: ignore[method-assign]


def explain(conn: psycopg.Connection[Any], query: str, params: Mapping[str, Any]) -> dict[str, Any]:
    row = conn.execute(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {query}", params).fetchone()
    assert row is not None
    plan = row[0][0]
    return {
        "ms": float(plan["Planning Time"]) + float(plan["Execution Time"]),
        "seq_scan": _seq_scans(plan["Plan"]),
    }


def _seq_scans(node: dict[str, Any]) -> list[str]:
    found = []
    if node.get("Node Type") == "Seq Scan" and node.get("Relation Name") == "pq_tasks":
        found.append("pq_tasks")
    for child in node.get("Plans", []):
        found += _seq_scans(child)
    return found


def pages(app: PQ) -> dict[str, str]:
    some = app.list_tasks(status="failed", limit=1)[0]
    middle = some.id // 2
    return {
        "overview": "/",
        "tasks (newest)": "/tasks",
        "tasks failed": "/tasks?status=failed",
        "tasks failed, one name": f"/tasks?status=failed&name={NAMES[7]}",
        "tasks running (rare)": "/tasks?status=running",
        "tasks of an empty queue": "/tasks?queue=nobody",
        "tasks failed, last 15m": "/tasks?status=failed&since=15m",
        "tasks, short name": "/tasks?name=job_3",
        "tasks of one queue": "/tasks?queue=reports",
        "tasks since 1h": "/tasks?since=1h",
        "tasks page 2 (keyset)": f"/tasks?status=failed&before={middle}",
        "search by id": f"/tasks?q={middle}",
        "search by client id": "/tasks?q=client-42",
        "task detail": f"/tasks/{some.id}",
        "workflow, 10 steps": "/workflows/1",
        "workflow, 5,000 steps": "/workflows/2",
        "workers": "/workers",
        "periodic": "/periodic",
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--verbose", action="store_true", help="each statement's time too")
    parser.add_argument("--keep", action="store_true", help=f"keep the schema {SCHEMA}")
    parser.add_argument("--reuse", action="store_true", help="measure a schema kept by --keep")
    args = parser.parse_args()
    if args.reuse:
        app = PQ(schema=SCHEMA)
        app.run_db_migrations()  # any added since it was kept
        print(f"reusing {app.count_tasks():,} rows of {SCHEMA}")
    else:
        app = fresh_app(SCHEMA)
        started = time.perf_counter()
        fill(app, args.rows)
        print(f"filled {args.rows:,} finished rows in {time.perf_counter() - started:.0f}s")
    try:
        measure(app, args.verbose)
    finally:
        if not args.keep and not args.reuse:
            with psycopg.connect(app.database_url, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA "{SCHEMA}" CASCADE')
        app.close()


def measure(app: PQ, verbose: bool) -> None:
    # Database time here is wall time inside the server: on a busy machine it includes
    # waiting for a CPU, so the load is printed with the results.
    load = os.getloadavg()[0]
    print(f"load average {load:.1f} on {os.cpu_count()} CPUs while measuring")
    client = TestClient(dashboard(app), base_url="http://127.0.0.1")
    print(f"database time per page (median of {RUNS}), limit {LIMIT_MS:.0f} ms:")
    worst = 0.0
    with psycopg.connect(app.database_url, autocommit=True) as conn:
        # As in the app's own sessions (pq/app.py): a plan whose estimate passes
        # jit_above_cost would otherwise count compile time the page never spends.
        conn.execute("SET jit = off")
        for label, path in pages(app).items():
            with recording() as seen:
                response = client.get(path)
            assert response.status_code == 200, (path, response.status_code)
            totals, scans = [], set()
            for _ in range(RUNS):
                results = [explain(conn, q, p) for q, p in seen]
                totals.append(sum(r["ms"] for r in results))
                scans.update(s for r in results for s in r["seq_scan"])
            ms = statistics.median(totals)
            worst = max(worst, ms)
            verdict = "ok" if ms < LIMIT_MS else "OVER LIMIT"
            flag = f" SEQ SCAN of {', '.join(sorted(scans))}" if scans else ""
            if verbose or ms >= LIMIT_MS:
                for q, p in seen:
                    one = statistics.median(explain(conn, q, p)["ms"] for _ in range(RUNS))
                    print(f"      {one:8.2f} ms  {q.splitlines()[0][:90]}")
            print(
                f"  {label:<26} {len(seen):>2} statements {ms:8.2f} ms  "
                f"ratio {LIMIT_MS / ms:6.1f} (target >= 1) {verdict}{flag}"
            )
    summary = {"worst_page_ms": round(worst, 2), "limit_ms": LIMIT_MS, "load": round(load, 1)}
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
