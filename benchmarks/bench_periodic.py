"""How late periodic ticks are enqueued, and whether any is doubled, with several workers.

Starts WORKERS real `pq worker` processes on a fresh database, schedules a no-op every
INTERVAL seconds (overlap allowed) for DURATION seconds, then prints per tick the lateness
(task row created_at minus its scheduled slot), the doubled ticks (must be 0) and the missed
slots. The limit compared against is the lateness a worker cannot avoid: one poll of the
database (measured in this run, as the p99 of a `SELECT now()` round trip) plus a 50 ms
allowance for waking up and the tick transaction.

    PQ_BENCH_SERVER_URL=postgresql://postgres@127.0.0.1:5432/postgres \
        python benchmarks/bench_periodic.py [WORKERS] [INTERVAL] [DURATION]
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from worker_procs import running_workers  # noqa: E402

from pq import PQ  # noqa: E402
from taskmods import funcs  # noqa: E402


def with_db(url: str, name: str) -> str:
    params = psycopg.conninfo.conninfo_to_dict(url)
    params["dbname"] = name
    return psycopg.conninfo.make_conninfo(**params)  # type: ignore[arg-type]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    workers = int(sys.argv[1]) if len(sys.argv) > 1 else 4
    interval = float(sys.argv[2]) if len(sys.argv) > 2 else 0.25
    duration = float(sys.argv[3]) if len(sys.argv) > 3 else 15.0
    server = os.environ.get("PQ_BENCH_SERVER_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    name = f"pq_bench_periodic_{os.getpid()}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = with_db(server, name)
    try:
        run(url, workers, interval, duration)
    finally:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def run(url: str, workers: int, interval: float, duration: float) -> None:
    app = PQ(url)
    app.run_db_migrations()
    with psycopg.connect(url) as conn:
        trips = []
        for _ in range(200):
            start = time.perf_counter()
            conn.execute("SELECT now()").fetchone()
            trips.append(time.perf_counter() - start)
    limit = percentile(trips, 0.99) + 0.050
    log_dir = Path(f"/tmp/pq-bench-periodic-{os.getpid()}")
    log_dir.mkdir(exist_ok=True)
    with running_workers(url, workers, log_dir, args=["--concurrency", "2"]):
        time.sleep(3)  # let the workers start (not part of what is measured)
        schedule = app.schedule(
            funcs.noop, run_every=timedelta(seconds=interval), max_concurrent=None
        )
        time.sleep(duration)
        stopped = app.pause_schedule(funcs.noop)
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT options->'periodic'->>'slot', created_at FROM pq_tasks WHERE periodic_id = %s",
            (schedule.id,),
        ).fetchall()
    slots = [datetime.fromisoformat(s) for s, _ in rows]
    late = sorted((created - datetime.fromisoformat(s)).total_seconds() for s, created in rows)
    expected = round((stopped.next_run - schedule.next_run) / timedelta(seconds=interval))
    p50, p99 = statistics.median(late), percentile(late, 0.99)
    print(f"workers={workers} interval={interval}s duration={duration}s")
    print(f"ticks={len(rows)} expected_slots={expected} doubled={len(slots) - len(set(slots))}")
    print(f"lateness p50={p50 * 1000:.1f}ms p99={p99 * 1000:.1f}ms max={late[-1] * 1000:.1f}ms")
    print(f"limit={limit * 1000:.1f}ms (p99 round trip + 50ms)  p99/limit={p99 / limit:.2f}")
    app.close()


if __name__ == "__main__":
    main()
