"""pq beside Celery prefork on the same machine, in the same run: draining no-op tasks.

    # a Redis on localhost:6379 (database 15 is used and flushed), then:
    python3 -m venv /tmp/peers
    /tmp/peers/bin/pip install -r benchmarks/peers/requirements.txt -e .
    /tmp/peers/bin/python benchmarks/peers/bench_celery.py [--tasks 2000]

Both sides run the same task: INCR a Redis counter, noting the time of the first and the
last run, so the rate is (tasks - 1) / (last - first) for both and neither pays for its
worker's start-up. Celery runs its prefork pool (children reused, as Celery always does);
pq runs a fresh child per task, then reuse (tasks_per_child=1000, the mode to compare with
Celery). Nothing is asserted: the figures are printed with their ratio to Celery's.
First, Celery's idle pick-up measured as benchmarks/bench_latency.py measures pq's (--pickups).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import redis
from celery import Celery

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
REDIS_URL = os.environ.get("PEERS_REDIS_URL", "redis://localhost:6379/15")

celery_app = Celery("bench_celery", broker=REDIS_URL)
celery_app.conf.update(task_ignore_result=True, worker_prefetch_multiplier=4)
_redis: redis.Redis | None = None


def count_run(total: int) -> None:
    """The task of both systems: count this run, stamp the first and the last."""
    global _redis
    if _redis is None:  # one connection per process (a reused child keeps it)
        _redis = redis.Redis.from_url(REDIS_URL)
    n = _redis.incr("peers:count")
    if n == 1:
        _redis.set("peers:first", time.time())
    if n == total:
        _redis.set("peers:last", time.time())


celery_count_run = celery_app.task(name="peers.count_run")(count_run)


@celery_app.task(name="peers.started_at")
def started_at() -> None:
    """The idle pick-up task: says when its code started running."""
    global _redis
    if _redis is None:
        _redis = redis.Redis.from_url(REDIS_URL)
    _redis.rpush("peers:started", time.time())


def wait_for(client: redis.Redis, total: int, timeout: float = 900) -> float:
    deadline = time.monotonic() + timeout
    while client.get("peers:last") is None:
        if time.monotonic() > deadline:
            raise SystemExit(f"only {client.get('peers:count')} of {total} tasks ran")
        time.sleep(0.05)
    first, last = float(client.get("peers:first")), float(client.get("peers:last"))  # type: ignore[arg-type]
    return (total - 1) / (last - first)


def celery_worker(concurrency: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "--quiet",  # a global option: no banner, so just bench prints the figures only
            "-A",
            "bench_celery:celery_app",
            "worker",
            "--pool",
            "prefork",
            "--concurrency",
            str(concurrency),
            "--loglevel",
            "WARNING",
        ],
        cwd=HERE,
        env={**os.environ, "PYTHONPATH": str(HERE)},
    )


def celery_drain(client: redis.Redis, total: int, concurrency: int) -> float:
    client.flushdb()
    for _ in range(total):
        celery_count_run.delay(total)
    worker = celery_worker(concurrency)
    try:
        return wait_for(client, total)
    finally:
        worker.terminate()
        worker.wait(60)


def celery_pickup(client: redis.Redis, tasks: int, warm_up: int = 20) -> list[float]:
    """Idle pick-up as benchmarks/bench_latency.py measures pq's: each task is sent alone to
    an idle prefork worker (concurrency 1); latency = the moment its code ran minus the
    moment delay() returned (the message is in Redis then)."""
    client.flushdb()
    worker = celery_worker(1)
    # redis-py's default socket timeout (5 s) is shorter than the worker's start under load
    waiter = redis.Redis.from_url(REDIS_URL, socket_timeout=90)
    latencies = []
    try:
        for n in range(tasks + warm_up):
            started_at.delay()
            sent = time.time()
            popped = waiter.blpop(["peers:started"], timeout=60)
            if popped is None:
                raise SystemExit("the Celery worker ran no task within 60 s")
            if n >= warm_up:  # the first ones pay for the worker's start-up
                latencies.append((float(popped[1]) - sent) * 1000)
    finally:
        worker.terminate()
        worker.wait(60)
    return sorted(latencies)


def pq_drain(client: redis.Redis, total: int, concurrency: int, tasks_per_child: int) -> float:
    import psycopg

    from pq import PQ

    client.flushdb()
    app = PQ(schema="pq_bench_peers")
    with psycopg.connect(app.database_url, autocommit=True) as conn:
        conn.execute("DROP SCHEMA IF EXISTS pq_bench_peers CASCADE")
    app.run_db_migrations()
    task = app.task(name="peers.count_run")(count_run)
    for _ in range(total):
        task.delay(total)
    app.run_worker(concurrency=concurrency, burst=True, tasks_per_child=tasks_per_child)
    return wait_for(client, total)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--pickups", type=int, default=300, help="idle pick-ups; 0: none")
    args = parser.parse_args()
    total = args.tasks
    client = redis.Redis.from_url(REDIS_URL)
    if args.pickups:
        lat = celery_pickup(client, args.pickups)
        p50, p95, p99 = (
            lat[min(len(lat) - 1, round(q * (len(lat) - 1)))] for q in (0.5, 0.95, 0.99)
        )
        print(
            f"idle pick-up, Celery prefork, {args.pickups} tasks (delay() returned -> task running)"
        )
        print(f"  p50 {p50:.2f} ms  p95 {p95:.2f} ms  p99 {p99:.2f} ms")
    print(f"drain of {total} tasks that each INCR a Redis counter (rate between first and last)")
    for concurrency in (2, 8):
        celery = celery_drain(client, total, concurrency)
        print(f"  c={concurrency} Celery prefork (children reused) {celery:8.1f}/s")
        for label, reuse in (("pq, fresh child per task", 1), ("pq, tasks_per_child=1000", 1000)):
            rate = pq_drain(client, total, concurrency, reuse)
            print(
                f"  c={concurrency} {label:<32} {rate:8.1f}/s  ratio to Celery {rate / celery:.2f}"
            )


if __name__ == "__main__":
    main()
