"""Idle pick-up latency: from an enqueue's commit to the task's child running.

A real `pq worker` waits idle on LISTEN; each task is enqueued alone (the previous one has
finished) and returns time.time() from inside the child. Latency = that moment minus the
moment the enqueue's commit returned. Same host, so both clocks are the same clock.

    python benchmarks/bench_latency.py            # PQ_DATABASE_URL, else the embedded server
Run three times in one go: a worker that forks on pick-up, one whose fork server keeps
children forked ahead (`--fork-server`), then one with a spare child waiting (`--spares 1`),
which only writes the row to it. `--workers N` adds a run: N idle workers of the same
queues, of which one listens (the listener slot, pq/worker/slot.py).
Targets: fresh child p50 < 5 ms, p99 < 20 ms (DESIGN.md); with a spare p50 < 3 ms, p99 < 6 ms.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg

from benchmarks._worker_bench import scratch_app, worker_processes
from pq import PQ
from pq.store.db import PsycopgExecutor

TASKS = 500
WARM_UP = 20
LIMITS_MS = {"p50": 5.0, "p95": None, "p99": 20.0}
SPARES = ("--spares", "1")
SPARE_LIMITS_MS = {"p50": 3.0, "p95": None, "p99": 6.0}  # issue 12: below Celery prefork

app = PQ()  # the worker subprocess imports this module: PQ_DATABASE_URL and PQ_SCHEMA


@app.task(name="benchmarks.bench_latency:started_at")  # not __main__ when run as a script
def started_at() -> float:
    return time.time()


def percentile(sorted_values: list[float], q: float) -> float:
    index = min(len(sorted_values) - 1, round(q / 100 * (len(sorted_values) - 1)))
    return sorted_values[index]


def wait_done(conn: psycopg.Connection[tuple[object, ...]], task_id: int) -> None:
    prefix = f"{task_id}:"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for notice in conn.notifies(timeout=5, stop_after=1):
            if notice.payload.startswith(prefix):
                return
    raise SystemExit(f"task {task_id} did not end within 60 s (is a worker running?)")


def measure(bench: PQ, task: Any, worker_args: tuple[str, ...], workers: int = 1) -> list[float]:
    # One listening connection for the whole run: opening one per task would compete
    # with the worker for the CPU at exactly the moment being measured.
    with (
        psycopg.connect(bench.database_url, autocommit=True) as done,
        worker_processes(bench, "benchmarks.bench_latency:app", workers, *worker_args),
    ):
        # LISTEN, then say so: workers send the done NOTIFY only while someone waits for it.
        bench.queries.listen_done(PsycopgExecutor(done))
        latencies = []
        for n in range(TASKS + WARM_UP):
            # A lone task: the producer's NOTIFY window (PQ_NOTIFY_WINDOW) holds back the
            # notice of an enqueue that follows the last one within it, which would measure
            # the window instead of the pick-up.
            time.sleep(bench.settings.notify_window)
            handle = task.delay()
            committed = time.time()
            wait_done(done, handle.id)
            running = bench.codec.decode_value(handle.snapshot().result)
            if n >= WARM_UP:  # the first ones pay for imports, plans and caches
                latencies.append((running - committed) * 1000)
    return sorted(latencies)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=1, help="a run with N idle workers")
    options = parser.parse_args()
    variants = {
        "fresh child (fork on pick-up)": (),
        "fork server (--fork-server)": ("--fork-server",),
        "spare children (--spares 1)": SPARES,
    }
    counts = dict.fromkeys(variants, 1)
    if options.workers > 1:
        label = f"fresh child, {options.workers} idle workers"
        variants[label], counts[label] = (), options.workers
    results = {}
    with scratch_app("pq_bench_latency") as bench:
        task = bench.task(started_at.fn, name=started_at.name)
        for label, args in variants.items():
            results[label] = measure(bench, task, args, counts[label])
    load = "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())  # read ratios by it
    print(f"idle pick-up latency over {TASKS} tasks (enqueue commit -> child running), {load}")
    for label, latencies in results.items():
        limits = SPARE_LIMITS_MS if variants[label] == SPARES else LIMITS_MS
        print(f"  {label}")
        for name, q in (("p50", 50), ("p95", 95), ("p99", 99)):
            value = percentile(latencies, q)
            limit = limits[name]
            verdict = "" if limit is None else f"  limit {limit:.0f} ms  ratio {value / limit:.2f}"
            print(f"    {name}: {value:7.2f} ms{verdict}")
        print(f"    mean {statistics.fmean(latencies):.2f} ms, max {latencies[-1]:.2f} ms")


if __name__ == "__main__":
    main()
