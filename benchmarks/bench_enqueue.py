"""Enqueue: `delay()` one at a time and `task.map()` in bulk, each beside raw psycopg.

    python benchmarks/bench_enqueue.py [--single 5000] [--bulk 100000] [--rounds 3]

Both pairs are measured in the same run, on the same table (PQ_DATABASE_URL's server, else
the embedded one; a schema of its own, emptied first), with the same row content:
- `task.delay(i, i)` in a loop against a raw psycopg loop of `INSERT ... RETURNING id` +
  commit, one row per pool checkout, through a psycopg_pool pool of the size pq's own pool
  has (target: >= 0.9x). delay() runs its INSERT in autocommit (one round trip where
  BEGIN, INSERT, COMMIT take three), so the same raw loop in autocommit is printed too, as
  the floor a single enqueue can reach;
- `task.map()` of the same number of calls against a raw `COPY` of the same rows with their
  arguments already encoded: only the database's share of the work (target: >= 0.7x).
The single loops take turns in 10 slices (their rate over all slices is compared, and the
median of the slices' ratios printed); the bulk pair alternates over rounds and compares
the best round of each. Nothing is asserted: the figures are printed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable

import psycopg
from psycopg_pool import ConnectionPool

from _common import fresh_app, report
from pq import PQ

SCHEMA = "pq_bench_enqueue"
TABLE = f"{SCHEMA}.pq_tasks"
app: PQ = fresh_app(SCHEMA)
SLICES = 10  # the single pair runs in this many alternating slices


@app.task
def add(a: int, b: int) -> int:
    return a + b


def _row(i: int) -> tuple[str, str, int, str, str, str, int]:
    """The row delay(i, i) writes: name, queue, priority, args, kwargs, options, attempts."""
    return (add.name, "default", 50, json.dumps([i, i]), "{}", "{}", 1)


def _truncate() -> None:
    with psycopg.connect(app.database_url, autocommit=True) as conn:
        conn.execute(f"TRUNCATE {TABLE}")


def _timed(fn: Callable[[], object]) -> float:
    _truncate()
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def raw_insert_loop(pool: ConnectionPool[psycopg.Connection[tuple[object, ...]]], n: int) -> None:
    rows = [_row(i) for i in range(n)]  # encoded in the loop too: about 1 us a row
    statement = (
        f"INSERT INTO {TABLE} (name, queue, priority, args, kwargs, options, max_attempts) "
        "VALUES (%s, %s, %s, %s::jsonb, %s::jsonb, %s::jsonb, %s) RETURNING id"
    )
    for row in rows:
        with pool.connection() as conn:  # commits on the way out, as pq's pool does
            conn.execute(statement, row).fetchone()


def raw_autocommit_loop(
    pool: ConnectionPool[psycopg.Connection[tuple[object, ...]]], n: int
) -> None:
    """The same INSERT with the pooled connection in autocommit: one round trip a row, as
    pq's delay() does it (no BEGIN, no COMMIT). For reference: the floor of a single enqueue."""
    rows = [_row(i) for i in range(n)]
    statement = (
        f"INSERT INTO {TABLE} (name, queue, priority, args, kwargs, options, max_attempts) "
        "VALUES (%s, %s, %s, %s::jsonb, %s::jsonb, %s::jsonb, %s) RETURNING id"
    )
    for row in rows:
        with pool.connection() as conn:
            conn.autocommit = True
            conn.execute(statement, row).fetchone()
            conn.autocommit = False


def delay_loop(n: int) -> None:
    for i in range(n):
        add.delay(i, i)


def raw_copy(rows: list[tuple[str, str, int, str, str, str, int]]) -> None:
    """Rows encoded beforehand (outside the timing): only the database's share of the work."""
    with psycopg.connect(app.database_url) as conn:
        with (
            conn.cursor() as cur,
            cur.copy(
                f"COPY {TABLE} (name, queue, priority, args, kwargs, options, max_attempts) "
                "FROM STDIN"
            ) as copy,
        ):
            for row in rows:
                copy.write_row(row)
        conn.commit()


def pq_map(n: int) -> None:
    ids = add.map((i, i) for i in range(n))
    assert len(ids) == n


def single_pair(pool: ConnectionPool[psycopg.Connection[tuple[object, ...]]], n: int) -> None:
    """n calls of each loop in SLICES slices, the loops taking turns inside each slice in an
    order that alternates: a load change on the shared machine hits all of them alike."""
    per = max(1, n // SLICES)
    loops: dict[str, Callable[[], object]] = {
        "raw": lambda: raw_insert_loop(pool, per),
        "delay": lambda: delay_loop(per),
        "auto": lambda: raw_autocommit_loop(pool, per),
    }
    total = dict.fromkeys(loops, 0.0)
    ratios = []
    for turn in range(SLICES):
        took = {k: _timed(loops[k]) for k in (loops if turn % 2 else reversed(loops))}
        ratios.append(took["raw"] / took["delay"])
        for k, seconds in took.items():
            total[k] += seconds
    count = per * SLICES
    rate = {k: count / seconds for k, seconds in total.items()}
    print(f"  {'raw INSERT + commit via psycopg_pool (limit)':<44} {rate['raw']:>10.1f} rows/s")
    report(f"task.delay() x {count}", rate["delay"], "tasks/s", rate["raw"], 0.9)
    print(
        f"  {'  median of the ' + str(SLICES) + ' slices':<44} {statistics.median(ratios):>10.2f}"
    )
    print(f"  {'  raw INSERT in autocommit (1 round trip)':<44} {rate['auto']:>10.1f} rows/s")
    print(f"  {'  delay() / raw INSERT in autocommit':<44} {rate['delay'] / rate['auto']:>10.2f}")


def bulk_pair(n: int, rounds: int) -> None:
    rows = [_row(i) for i in range(n)]
    copy_times, map_times = [], []
    for _ in range(rounds):
        copy_times.append(_timed(lambda: raw_copy(rows)))
        map_times.append(_timed(lambda: pq_map(n)))
    print(f"  {'raw COPY of the same rows (limit)':<44} {n / min(copy_times):>10.1f} rows/s")
    report(f"task.map() of {n}", n / min(map_times), "tasks/s", n / min(copy_times), 0.7)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--single", type=int, default=5000, help="delay() calls in all")
    parser.add_argument("--bulk", type=int, default=100_000, help="map() items per round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the bulk pair")
    options = parser.parse_args()
    settings = app.settings
    pool: ConnectionPool[psycopg.Connection[tuple[object, ...]]] = ConnectionPool(
        app.database_url, min_size=settings.pool_min_size, max_size=settings.pool_max_size
    )
    pool.wait()
    delay_loop(50)  # warm both pools (connections opened, statements prepared)
    raw_insert_loop(pool, 50)
    print(f"pq enqueue (load average {os.getloadavg()[0]:.1f} at start)")
    single_pair(pool, options.single)
    bulk_pair(options.bulk, options.rounds)
    pool.close()
    app.close()
    _truncate()
    print(f"  (load average {os.getloadavg()[0]:.1f} at the end)")


if __name__ == "__main__":
    main()
