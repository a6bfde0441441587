"""Notifications: what NOTIFY costs busy producers, and what idle workers cost per task.

    python benchmarks/bench_notify.py [--tasks 8000] [--drain 2000] [--repeat 1]

1. Enqueue rate of 4 producer processes (one `.delay()` per task, each on its own pool),
   with no worker and with 4 idle workers (real `pq worker`s serving another queue, so they
   take nothing; all 4 used to LISTEN, now the one holding their listener slot does, see
   pq/worker/slot.py), once with a NOTIFY per enqueue
   (PQ_NOTIFY_WINDOW=0, the old behaviour) and once with pq's default window, each pair
   `--repeat` times in turn. Target: the rate with listeners >= 0.9x the rate without, in
   the same run.
2. Commits per task (pg_stat_database.xact_commit over the whole run / tasks) while one
   producer enqueues tasks one by one into running workers: 1 worker x 2 and 8 workers x 2.
   Target: 8 x 2 within 1.5x of 1 x 2.
3. Idle pick-up latency of a single task (enqueue to result), window 0 and default: the
   window must not slow a lone task down.
Nothing is asserted: the figures are printed.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg
from psycopg import sql

from benchmarks._worker_bench import scratch_database, worker_processes
from pq import PQ
from pq.settings import Settings

SCHEMA = "pq_bench_notify"
TARGET = "benchmarks.bench_notify:app"
app = PQ()  # the worker subprocesses import this module: PQ_DATABASE_URL and PQ_SCHEMA


@app.task(name="benchmarks.bench_notify:noop")  # not __main__ when run as a script
def noop() -> None:
    return None


def _produce(url: str, count: int, window: str, go: object) -> None:
    os.environ["PQ_NOTIFY_WINDOW"] = window
    producer = PQ(url, schema=SCHEMA)
    producer.enqueue(noop)  # connect and warm up before the clock starts
    go.wait()  # type: ignore[attr-defined]
    for _ in range(count):
        producer.enqueue(noop)
    producer.close()


def enqueue_rate(url: str, total: int, producers: int, window: str) -> float:
    ctx = multiprocessing.get_context("fork")
    go = ctx.Event()
    procs = [
        ctx.Process(target=_produce, args=(url, total // producers, window, go))
        for _ in range(producers)
    ]
    for proc in procs:
        proc.start()
    time.sleep(1.0)  # every producer connected and waiting on `go`
    started = time.perf_counter()
    go.set()
    for proc in procs:
        proc.join()
    return (total // producers * producers) / (time.perf_counter() - started)


def commits(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_stat_clear_snapshot()")
        row = conn.execute(
            "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
        ).fetchone()
        return int(row[0]) if row else 0


def clear(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("DELETE FROM {}.pq_tasks").format(sql.Identifier(SCHEMA)))


def commits_per_task(bench: PQ, count: int, worker_count: int) -> tuple[float, float]:
    """(all commits per task, commits per task beyond the workers' upkeep): one producer
    enqueues `count` tasks one by one into running workers. Upkeep (heartbeats, schedule
    checks: a cost per second, not per task) is measured first with the workers idle."""
    url = bench.database_url
    clear(url)  # the rows of part 1 are still pending: drain only this part's tasks
    producer = PQ(url, schema=SCHEMA)
    producer.enqueue(noop, queue="warm-up")
    with worker_processes(bench, TARGET, worker_count, "--concurrency", "2"):
        time.sleep(1.0)
        before, started = commits(url), time.monotonic()
        time.sleep(5.0)
        upkeep = (commits(url) - before - 2) / (time.monotonic() - started)  # per second
        before, started = commits(url), time.monotonic()
        for _ in range(count):
            producer.enqueue(noop)
        producer.close()
        polls = 0  # each one a commit of ours: taken off the count below
        with psycopg.connect(url, autocommit=True) as conn:
            query = sql.SQL("SELECT count(*) FROM {}.pq_tasks WHERE status <> 'completed'")
            while (conn.execute(query.format(sql.Identifier(SCHEMA))).fetchone() or (0,))[0] > 1:
                polls += 1
                time.sleep(0.2)
        elapsed = time.monotonic() - started
    time.sleep(1.0)  # the workers' statistics reach pg_stat_database as they exit
    spent = commits(url) - before - polls - 2
    clear(url)
    return spent / count, (spent - upkeep * elapsed) / count


def pickup_ms(bench: PQ, window: str, samples: int = 40) -> float:
    os.environ["PQ_NOTIFY_WINDOW"] = window
    clear(bench.database_url)
    producer = PQ(bench.database_url, schema=SCHEMA)
    timings = []
    with worker_processes(bench, TARGET, 1):
        for _ in range(samples):
            started = time.perf_counter()
            task_id = producer.enqueue(noop)
            producer.wait_for_end(task_id, None)
            timings.append((time.perf_counter() - started) * 1000)
    producer.close()
    return statistics.median(timings)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=8000)
    parser.add_argument("--producers", type=int, default=4)
    parser.add_argument("--listeners", type=int, default=4)
    parser.add_argument("--drain", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=1, help="alone/with listeners pairs")
    options = parser.parse_args()
    default_window = str(Settings().notify_window)  # PQ_NOTIFY_WINDOW, else the default
    with scratch_database(SCHEMA) as bench:
        url = bench.database_url
        print(f"1. enqueue rate, {options.producers} producers, {options.tasks} tasks")
        for label, window in (("NOTIFY per enqueue", "0"), ("pq default window", default_window)):
            # Alone and with listeners in turn, --repeat times: on a shared machine the load
            # moves between two runs, so one pair alone says little; the median ratio holds.
            # The commits (pg_stat_database) of each run tell what the workers' presence
            # cost the server, which the load does not move: the listeners' wake-ups (a
            # transaction per woken session) plus the workers' start, polls and stop.
            ratios, extra = [], []
            for _ in range(options.repeat):
                before = commits(url)
                alone = enqueue_rate(url, options.tasks, options.producers, window)
                alone_commits, before = commits(url) - before, commits(url)
                with worker_processes(bench, TARGET, options.listeners, "--queue", "elsewhere"):
                    heard = enqueue_rate(url, options.tasks, options.producers, window)
                time.sleep(1.0)  # the workers' backends have exited and flushed their counts
                extra.append((commits(url) - before - alone_commits) / options.tasks)
                ratios.append(heard / alone)
                print(
                    f"  {label:<20} (window {window}s): {alone:7.0f}/s alone, {heard:7.0f}/s "
                    f"with {options.listeners} idle workers: ratio {heard / alone:.2f}; "
                    f"{extra[-1]:+.2f} commits per enqueue"
                )
            print(
                f"  {label:<20} median ratio of {len(ratios)}: "
                f"{statistics.median(ratios):.2f} (target >= 0.9); commits per enqueue the "
                f"workers added: {statistics.median(extra):+.2f}"
            )
        print(f"2. commits per task, one producer enqueueing {options.drain} tasks one by one")
        (one, one_net), (eight, eight_net) = (
            commits_per_task(bench, options.drain, n) for n in (1, 8)
        )
        print(f"  all commits (producer's included): 1 x 2: {one:.2f}   8 x 2: {eight:.2f}")
        print(
            f"  beyond the workers' upkeep:        1 x 2: {one_net:.2f}   8 x 2: "
            f"{eight_net:.2f}   ratio {eight_net / one_net:.2f} (target <= 1.5)"
        )
        print("3. idle pick-up, enqueue to end of a lone no-op task (median)")
        for label, window in (("NOTIFY per enqueue", "0"), ("pq default window", default_window)):
            print(f"  {label:<20}: {pickup_ms(bench, window):.1f} ms")


if __name__ == "__main__":
    main()
