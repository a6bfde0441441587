"""Cancel latency: from `app.cancel(id)` of a running task to its row recorded 'cancelled'.

    python benchmarks/bench_cancel.py [--rounds 10]

A worker runs in this process (burst mode) while a thread waits for the task to start,
cancels it and waits for the end with `handle.result()` (LISTEN on the done channel). Uses
PQ_DATABASE_URL's server (else the embedded one) and a scratch database it drops at the end.
Prints the median and worst latency against the one-second limit of the issue.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import threading
import time

import psycopg
from psycopg import sql

from pq import PQ, TaskCancelledError, TaskHandle, TaskStatus
from pq.store import embedded

LIMIT_SECONDS = 1.0


def sleep_long() -> None:
    time.sleep(600)


def _one_round(app: PQ, producer: PQ) -> float:
    # The thread watches through the producer app: the worker's app keeps no pool while forking.
    handle = TaskHandle(producer, app.task(sleep_long).delay().id)
    latency: list[float] = []

    def cancel_when_running() -> None:
        while handle.status() is not TaskStatus.RUNNING:
            time.sleep(0.005)
        started = time.perf_counter()
        producer.cancel(handle.id)
        try:
            handle.result(timeout=30)
        except TaskCancelledError:
            latency.append(time.perf_counter() - started)

    thread = threading.Thread(target=cancel_when_running)
    thread.start()
    app.run_worker(burst=True)
    thread.join()
    return latency[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    rounds = parser.parse_args().rounds
    logging.getLogger("pq").setLevel(logging.ERROR)  # one warning per cancel otherwise
    server_url = embedded.resolve_database_url(os.environ.get("PQ_DATABASE_URL"))
    name = f"pq_bench_cancel_{os.getpid()}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    params = psycopg.conninfo.conninfo_to_dict(server_url)
    params["dbname"] = name
    url = psycopg.conninfo.make_conninfo(**params)  # type: ignore[arg-type]
    app, producer = PQ(url), PQ(url)
    try:
        app.run_db_migrations()
        latencies = [_one_round(app, producer) for _ in range(rounds)]
    finally:
        app.close()
        producer.close()
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
    median, worst = statistics.median(latencies), max(latencies)
    print(f"cancel -> recorded 'cancelled', {rounds} rounds")
    print(f"median: {median * 1000:8.1f} ms  ({median / LIMIT_SECONDS:.3f} of the 1 s limit)")
    print(f"worst:  {worst * 1000:8.1f} ms  ({worst / LIMIT_SECONDS:.3f} of the 1 s limit)")


if __name__ == "__main__":
    main()
