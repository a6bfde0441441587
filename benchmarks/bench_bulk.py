"""Bulk enqueue: `task.map()` of 100,000 tasks against a raw COPY of the same rows.

    python benchmarks/bench_bulk.py [--tasks 100000] [--rounds 3]

Uses PQ_DATABASE_URL's server (else the embedded one) and a scratch database of its own that
it drops at the end. Prints, best of the rounds: pq's rate, the raw COPY's rate (same rows,
same table, arguments already encoded: the floor of what COPY costs), their ratio, and pq's
rate against the 50,000 tasks/s target from DESIGN.md.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import psycopg
from psycopg import sql

from pq import PQ
from pq.store import embedded

TARGET_PER_SECOND = 50_000


def add(a: int, b: int) -> int:
    return a + b


def _scratch_db(server_url: str) -> tuple[str, str]:
    name = f"pq_bench_bulk_{os.getpid()}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    params = psycopg.conninfo.conninfo_to_dict(server_url)
    params["dbname"] = name
    return name, psycopg.conninfo.make_conninfo(**params)  # type: ignore[arg-type]


def _truncate(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("TRUNCATE pq_tasks")


def _pq_map(app: PQ, n: int) -> float:
    task = app.task(add)
    started = time.perf_counter()
    ids = task.map((i, i) for i in range(n))
    elapsed = time.perf_counter() - started
    assert len(ids) == n
    return elapsed


def _raw_copy(url: str, n: int) -> float:
    """The same rows with arguments encoded beforehand: only the database's share of the work."""
    rows = [(f"{__name__}:add", "default", 50, json.dumps([i, i]), "{}", "{}", 1) for i in range(n)]
    with psycopg.connect(url) as conn:
        started = time.perf_counter()
        with (
            conn.cursor() as cur,
            cur.copy(
                "COPY pq_tasks (name, queue, priority, args, kwargs, options, max_attempts) "
                "FROM STDIN"
            ) as copy,
        ):
            for row in rows:
                copy.write_row(row)
        conn.commit()
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    options = parser.parse_args()
    n = options.tasks

    server_url = embedded.resolve_database_url(os.environ.get("PQ_DATABASE_URL"))
    name, url = _scratch_db(server_url)
    app = PQ(url)
    try:
        app.run_db_migrations()
        pq_times, raw_times = [], []
        for _ in range(options.rounds):
            _truncate(url)
            pq_times.append(_pq_map(app, n))
            _truncate(url)
            raw_times.append(_raw_copy(url, n))
    finally:
        app.close()
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )

    pq_rate, raw_rate = n / min(pq_times), n / min(raw_times)
    print(f"tasks per call:      {n}")
    print(f"pq task.map():       {pq_rate:>10,.0f} tasks/s  (best of {options.rounds})")
    print(f"raw COPY same rows:  {raw_rate:>10,.0f} rows/s")
    print(f"ratio pq / raw COPY: {pq_rate / raw_rate:.2f}")
    print(
        f"target {TARGET_PER_SECOND:,} tasks/s: {pq_rate / TARGET_PER_SECOND:.2f}x "
        f"({'met' if pq_rate >= TARGET_PER_SECOND else 'NOT met'})"
    )


if __name__ == "__main__":
    main()
