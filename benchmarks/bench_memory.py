"""Flat memory: the worker parent's RSS before and after thousands of tasks.

A real `pq worker --concurrency 2` drains no-op tasks (6,000 by default); its RSS is read
from /proc/<pid>/status once the first 1,000 are done (imports, plans and pools are warm) and
again when all are done. The limit is a growth of a few MB (4 MiB here).

    python benchmarks/bench_memory.py [--tasks 20000]   # PQ_DATABASE_URL, else embedded
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg
from psycopg import sql

from benchmarks._worker_bench import rss_kib, scratch_app, worker_process
from pq import PQ

TASKS = 6_000
WARM = 1_000
LIMIT_KIB = 4 * 1024

app = PQ()


@app.task(name="benchmarks.bench_memory:noop")  # not __main__ when run as a script
def noop() -> None:
    return None


def completed(conn: psycopg.Connection[tuple[int]], schema: str) -> int:
    query = sql.SQL("SELECT count(*) FROM {}.pq_tasks WHERE status = 'completed'").format(
        sql.Identifier(schema)
    )
    row = conn.execute(query).fetchone()
    return row[0] if row else 0


def wait_for(
    conn: psycopg.Connection[tuple[int]], schema: str, count: int, proc: subprocess.Popen[bytes]
) -> None:
    while completed(conn, schema) < count:
        if proc.poll() is not None:
            raise SystemExit(f"the worker exited ({proc.returncode}) before {count} tasks")
        time.sleep(0.05)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=TASKS)
    tasks = parser.parse_args().tasks
    schema = "pq_bench_memory"
    with scratch_app(schema) as bench, psycopg.connect(bench.database_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("INSERT INTO {}.pq_tasks (name) SELECT %s FROM generate_series(1, %s)").format(
                sql.Identifier(schema)
            ),
            (noop.name, tasks),
        )
        started = time.monotonic()
        with worker_process(bench, "benchmarks.bench_memory:app", "--concurrency", "2") as proc:
            wait_for(conn, schema, WARM, proc)
            start = rss_kib(proc.pid)
            wait_for(conn, schema, tasks, proc)
            end = rss_kib(proc.pid)
        elapsed = time.monotonic() - started
    growth = end - start
    print(f"worker parent RSS over {tasks} tasks ({tasks / elapsed:.0f} tasks/s)")
    print(f"  after {WARM}: {start / 1024:.1f} MiB")
    print(f"  after {tasks}: {end / 1024:.1f} MiB")
    print(
        f"  growth {growth / 1024:+.2f} MiB  limit {LIMIT_KIB / 1024:.0f} MiB  "
        f"ratio {max(growth, 0) / LIMIT_KIB:.2f}"
    )


if __name__ == "__main__":
    main()
