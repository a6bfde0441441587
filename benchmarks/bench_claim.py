"""Claim time as finished rows pile up: it must stay flat (the partial index at work).

    python benchmarks/bench_claim.py [--sizes 10000,1000000]

For each size, fills pq_tasks with that many completed rows plus 2,000 pending ones, then
times 200 single-row claims. The limit is the claim time measured at the smallest size in
the same run; the ratio of each larger size to it should stay near 1 (target <= 1.5).
"""

from __future__ import annotations

import argparse
import statistics
import time

import psycopg

from _common import fresh_app
from pq.store.db import PsycopgExecutor

SCHEMA = "pq_bench_claim"
PENDING = 2000
CLAIMS = 200


def fill(url: str, finished: int) -> None:
    with psycopg.connect(url) as conn:
        conn.execute(f"TRUNCATE {SCHEMA}.pq_tasks")
        conn.execute(
            f"INSERT INTO {SCHEMA}.pq_tasks (name, status, finished_at, attempts) "
            "SELECT 'bench:done', 'completed', now() - make_interval(secs => g), 1 "
            "FROM generate_series(1, %s) AS g",
            (finished,),
        )
        conn.execute(
            f"INSERT INTO {SCHEMA}.pq_tasks (name) SELECT 'bench:todo' FROM generate_series(1, %s)",
            (PENDING,),
        )
        conn.commit()
        conn.autocommit = True
        conn.execute(f"VACUUM ANALYZE {SCHEMA}.pq_tasks")


def median_claim_ms(app_url: str, queries: object) -> float:
    from pq.store.queries import Queries

    assert isinstance(queries, Queries)
    timings = []
    with psycopg.connect(app_url, autocommit=True) as conn:
        ex = PsycopgExecutor(conn)
        for _ in range(CLAIMS):
            started = time.perf_counter()
            rows = queries.task_claim(ex, worker_id=1, limit=1, queues=["default"], priorities=None)
            timings.append((time.perf_counter() - started) * 1000)
            assert len(rows) == 1
    return statistics.median(timings)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10000,1000000")
    sizes = [int(s) for s in parser.parse_args().sizes.split(",")]

    app = fresh_app(SCHEMA)
    print(f"claim time vs finished rows ({PENDING} pending, median of {CLAIMS} claims)")
    baseline = None
    for size in sizes:
        fill(app.database_url, size)
        ms = median_claim_ms(app.database_url, app.queries)
        baseline = baseline or ms
        ratio = ms / baseline
        verdict = "ok" if ratio <= 1.5 else "ABOVE TARGET"
        print(
            f"  {size:>10,} finished rows: {ms:6.3f} ms per claim   ratio {ratio:4.2f} "
            f"to the smallest size (target <= 1.5) {verdict}"
        )
    with psycopg.connect(app.database_url, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {SCHEMA} CASCADE")
    app.close()


if __name__ == "__main__":
    main()
