"""The worker parent's memory for one large result, as a multiple of the result's size.

A real `pq worker` runs a warm-up task, then one task returning a string of SIZE_MIB MiB
(its JSON is the same size). The parent's peak RSS (VmHWM, reset with clear_refs before the
big task) minus its RSS before it, divided by the result's size, is the ratio printed: what
the parent holds at once while it reads the child's report and records it.

    python benchmarks/bench_result_memory.py     # PQ_DATABASE_URL, else the embedded server
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg
from psycopg import sql

from benchmarks._worker_bench import rss_kib, scratch_app, worker_process
from pq import PQ

SIZE_MIB = 60

app = PQ()


@app.task(name="benchmarks.bench_result_memory:big")  # not __main__ when run as a script
def big(mib: int) -> str:
    return "x" * (mib * 2**20)


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} for pid {pid}")


def _wait_done(conn: psycopg.Connection[tuple[int]], schema: str, count: int) -> None:
    query = sql.SQL(
        "SELECT count(*) FROM {}.pq_tasks WHERE status <> 'pending' AND status <> 'running'"
    )
    while (conn.execute(query.format(sql.Identifier(schema))).fetchone() or (0,))[0] < count:
        time.sleep(0.05)


def main() -> None:
    schema = "pq_bench_result_memory"
    with scratch_app(schema) as bench, psycopg.connect(bench.database_url, autocommit=True) as conn:
        with worker_process(bench, "benchmarks.bench_result_memory:app") as proc:
            bench.enqueue(big, 1)  # warm: plans, buffers, imports
            _wait_done(conn, schema, 1)
            time.sleep(0.5)
            before = rss_kib(proc.pid)
            Path(f"/proc/{proc.pid}/clear_refs").write_text("5")  # reset the peak to now
            bench.enqueue(big, SIZE_MIB)
            _wait_done(conn, schema, 2)
            peak = _status_kib(proc.pid, "VmHWM")
            after = rss_kib(proc.pid)
        query = "SELECT status, octet_length(result::text) FROM {}.pq_tasks ORDER BY id DESC"
        stored = conn.execute(sql.SQL(query).format(sql.Identifier(schema))).fetchone()
    size = SIZE_MIB * 1024
    grew, kept = peak - before, after - before
    print(f"one {SIZE_MIB} MiB result through the worker parent (stored: {stored})")
    print(f"  parent RSS before {before / 1024:.1f} MiB, peak {peak / 1024:.1f} MiB")
    print(f"  peak growth {grew / 1024:.1f} MiB = {grew / size:.2f}x the result")
    print(f"  kept after  {kept / 1024:.1f} MiB = {kept / size:.2f}x the result")


if __name__ == "__main__":
    main()
