"""Thundering herd: database commits per task as workers are added, on the same drain.

    python benchmarks/bench_herd.py [--tasks 4000] [--producers 2] [--workers 8]

For 1 worker x 2 and N workers x 2 (default 8), each on the same work:
- stream: `--producers` processes enqueue `--tasks` no-op tasks one by one (`.delay()` with
  pq's default notify window) into running, listening workers;
- backlog: `--tasks` no-op tasks inserted in one statement, then the workers start and drain.
Commits are pg_stat_database.xact_commit of a database of its own, read before the workers
start and after they exit (a backend's counts reach pg_stat_database late while it lives, all
of them when it exits), minus this script's own statements. They include everything: the
producers' enqueues and notifications, the workers' start, heartbeats, claims (empty ones too),
records and stop, and the listeners' wake-ups: every NOTIFY wakes every listening session of
the database, which reads it in a short read-only transaction (a commit to pg_stat_database).
The NOTIFYs are counted where they are sent, in the producer processes (their inserts that
carry one, and the trailing notices of pq's notify window), not by a session of this script
listening: that session would itself be woken, and commit, once per NOTIFY, a cost no
deployment of pq has. The workers send none here (no result waits, cancels or pauses).
"beyond listener wake-ups" takes NOTIFYs x listening sessions off (an estimate: a session
woken once for several NOTIFYs commits once; the sessions are counted once, idle, before the
stream starts: one per queue set and machine holds the listener slot, pq/worker/slot.py).
Target (issue 13): N x 2 within 1.5x the commits per task of 1 x 2.
Nothing is asserted: the figures and ratios of one run are printed, with the load average.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg
from psycopg import sql

from benchmarks._worker_bench import scratch_database, worker_processes
from pq import PQ

SCHEMA = "pq_bench_herd"
app = PQ()  # the worker subprocesses import this module: PQ_DATABASE_URL and PQ_SCHEMA


@app.task(name="benchmarks.bench_herd:noop")  # not __main__ when run as a script
def noop() -> None:
    return None


class Monitor:
    """This script's own connection; counts its statements (each one a commit) to subtract."""

    def __init__(self, url: str) -> None:
        self.conn = psycopg.connect(url, autocommit=True)
        self.statements = 0
        self.notices = 0  # NOTIFYs the producers sent (see _produce)
        self.listeners = 0  # the workers' sessions idle on LISTEN before the stream

    def close(self) -> None:
        self.conn.close()

    def value(self, query: sql.Composable | str, *params: Any) -> int:
        self.statements += 1
        row = self.conn.execute(query, params or None).fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    def commits(self) -> int:
        self.conn.execute("SELECT pg_stat_clear_snapshot()")
        return self.value(
            "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
        )

    def wait(self, query: sql.Composable, until: int) -> None:
        while self.value(query) < until:
            time.sleep(0.1)


def _q(text: str) -> sql.Composed:
    return sql.SQL(text).format(sql.Identifier(SCHEMA))


def _produce(url: str, count: int, go: Any, sent: Any) -> None:
    producer = PQ(url, schema=SCHEMA)
    producer.enqueue(noop, queue="warm-up")  # connect before the clock starts
    # Counts the NOTIFYs this producer sends: an insert that carries one (pq's notify window
    # leaves it off within the window), and each queue of a trailing notice.
    queries, notices = producer.queries, [0]
    insert, notify_queues = queries.task_insert, queries.task_notify_queues

    def counted_insert(ex: Any, row: Any, *, notify: bool = True) -> int:
        notices[0] += notify
        return insert(ex, row, notify=notify)

    def counted_notify(ex: Any, queues: list[str]) -> None:
        notices[0] += len(queues)
        notify_queues(ex, queues)

    queries.task_insert = counted_insert  # type: ignore[method-assign]
    queries.task_notify_queues = counted_notify  # type: ignore[method-assign]
    go.wait()
    for _ in range(count):
        producer.enqueue(noop)
    producer.close()  # sends a trailing notice still owed
    with sent.get_lock():
        sent.value += notices[0]


def stream(url: str, tasks: int, producers: int, monitor: Monitor, worker_count: int) -> None:
    """Producers enqueue one by one into running workers."""
    ctx = multiprocessing.get_context("fork")
    go = ctx.Event()
    sent = ctx.Value("q", 0)
    per = tasks // producers
    procs = [ctx.Process(target=_produce, args=(url, per, go, sent)) for _ in range(producers)]
    for proc in procs:
        proc.start()
    live = _q("SELECT count(*) FROM {}.pq_workers WHERE stopped_at IS NULL")
    monitor.wait(live, worker_count)
    time.sleep(0.5)  # every producer connected, every worker listening
    monitor.listeners = monitor.value(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
        " AND state = 'idle' AND query LIKE 'LISTEN %'"
    )
    go.set()
    monitor.wait(_q("SELECT count(*) FROM {}.pq_tasks WHERE status = 'completed'"), per * producers)
    for proc in procs:
        proc.join()
    monitor.notices += sent.value


def backlog(url: str, tasks: int, monitor: Monitor) -> None:
    """Started on a queue already holding every task."""
    monitor.wait(_q("SELECT count(*) FROM {}.pq_tasks WHERE status = 'completed'"), tasks)


def measure(
    bench: PQ, kind: str, worker_count: int, options: argparse.Namespace
) -> tuple[float, float, float, int]:
    """(commits per task, NOTIFYs per task, tasks per second, listening sessions) of one
    drain."""
    url = bench.database_url
    monitor = Monitor(url)
    monitor.value(_q("WITH d AS (DELETE FROM {}.pq_tasks RETURNING 1) SELECT count(*) FROM d"))
    if kind == "backlog":
        monitor.value(
            _q(
                "WITH i AS (INSERT INTO {}.pq_tasks (name, args) "
                "SELECT 'benchmarks.bench_herd:noop', '[]'::jsonb "
                "FROM generate_series(1, %s) RETURNING 1) SELECT count(*) FROM i"
            ),
            options.tasks,
        )
    time.sleep(1.0)  # earlier backends' counts have reached pg_stat_database
    before, notices = monitor.commits(), monitor.notices
    mark = monitor.statements
    started = time.monotonic()
    with worker_processes(bench, "benchmarks.bench_herd:app", worker_count, "--concurrency", "2"):
        if kind == "stream":
            stream(url, options.tasks, options.producers, monitor, worker_count)
        else:
            backlog(url, options.tasks, monitor)
        elapsed = time.monotonic() - started
    time.sleep(1.0)  # the workers' backends have exited and flushed their counts
    spent = monitor.commits() - before - (monitor.statements - mark)
    notices = monitor.notices - notices
    monitor.close()
    tasks = (
        options.tasks
        if kind == "backlog"
        else options.tasks // options.producers * options.producers
    )
    return spent / tasks, notices / tasks, tasks / elapsed, monitor.listeners


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=4000)
    parser.add_argument("--producers", type=int, default=2)
    parser.add_argument("--workers", type=int, default=8)
    options = parser.parse_args()
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with scratch_database(SCHEMA) as bench:
        for kind in ("stream", "backlog"):
            what = (
                f"{options.producers} producers enqueue one by one"
                if kind == "stream"
                else "backlog inserted first"
            )
            print(f"{kind}: {options.tasks} no-op tasks, {what}")
            rows = [(n, *measure(bench, kind, n, options)) for n in (1, options.workers)]
            for n, commits, notices, rate, listeners in rows:
                woken = commits - notices * listeners  # the workers' listening sessions
                print(
                    f"  {n} worker(s) x 2: {commits:5.2f} commits/task ({notices:4.2f} NOTIFY/task"
                    f" x {listeners} listening; {woken:5.2f} beyond listener wake-ups)"
                    f"  {rate:6.0f} tasks/s"
                )
            (_, one, _, one_rate, _), (_, many, _, many_rate, _) = rows
            print(
                f"  ratio {options.workers} x 2 / 1 x 2: commits/task {many / one:.2f} "
                f"(target <= 1.5), rate {many_rate / one_rate:.2f}"
            )
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
