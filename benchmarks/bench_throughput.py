"""Throughput: draining no-op tasks, and single-row delay(), each beside its own limit.

    python benchmarks/bench_throughput.py [--tasks 1000]

Limits are measured in the same run, from the same process (so the parent that forks is the
same size: pq, psycopg and pydantic imported):
- each drain is compared with a bare fork/_exit/wait loop keeping as many children in flight
  (targets: >= 0.8x at concurrency 2, >= 0.9x at concurrency 8), and its CPU per task is split
  by part: the worker parent, its children, the Postgres server. "Over bare fork" is the
  parent + child CPU beyond the bare loop's (target: under 1 ms per task). Page faults per
  task (parent, children) are printed too: they do not move with the machine's load, and
  much of the CPU beyond a bare fork is spent in them (each fork makes every page the
  parent writes afterwards fault, and copy while a child shares it). Each drain runs
  four ways: a fresh child forked per task, a fresh child per task forked by the fork
  server (PQ_FORK_SERVER=1: the worker parent no longer forks; the server's own CPU and
  page faults count with the children's), spare children (--spares), and reuse
  (tasks_per_child=100, no fork per task: its ratio may pass 1, and its figures are the ones
  to compare with Celery prefork, benchmarks/peers/bench_celery.py);
- delay() is compared with a raw psycopg INSERT + commit loop (target: >= 0.8x).
Nothing is asserted: the figures are printed.
"""

from __future__ import annotations

import argparse
import gc
import os

import psycopg

from _common import fresh_app, rate, report
from _parts import Parts, ServerClock, measure
from pq import PQ

app: PQ = fresh_app("pq_bench_throughput")

TARGETS = {2: 0.8, 8: 0.9}  # drain rate / bare fork loop rate, by concurrency
OVERHEAD_TARGET_MS = 1.0  # parent + child CPU per task beyond a bare fork
REUSE = 100  # tasks_per_child of the reuse rows (compare them with Celery: benchmarks/peers/)


@app.task
def noop() -> None:
    return None


def bare_fork_loop(count: int, concurrency: int) -> None:
    """Forks `count` children that _exit at once, at most `concurrency` alive at a time."""
    gc.freeze()
    alive = 0
    for _ in range(count):
        if alive == concurrency:
            os.wait()
            alive -= 1
        if os.fork() == 0:
            os._exit(0)
        alive += 1
    while alive:
        os.wait()
        alive -= 1


def enqueue_noops(count: int) -> None:
    with psycopg.connect(app.database_url) as conn:
        for _ in range(count):
            app.enqueue(noop, connection=conn)
        conn.commit()
        # Steady state: in production the table has statistics. Without them (a table that
        # was just filled and not yet auto-analyzed) the claim sorts every pending row; see
        # docs/worker.md, "Planner statistics".
        conn.autocommit = True
        conn.execute("ANALYZE pq_bench_throughput.pq_tasks")


def drain(concurrency: int, options: dict[str, int]) -> int:
    return app.run_worker(concurrency=concurrency, burst=True, poll_interval=0.05, **options)


def raw_insert_loop(count: int) -> None:
    with psycopg.connect(app.database_url) as conn:
        for _ in range(count):
            conn.execute(
                "INSERT INTO pq_bench_throughput.pq_tasks (name, args, kwargs) "
                "VALUES (%s, %s::jsonb, %s::jsonb)",
                ("bench:noop", "[]", "{}"),
            )
            conn.commit()


def delay_loop(count: int) -> None:
    for _ in range(count):
        noop.delay()


def print_row(label: str, parts: Parts, n: int, limit: Parts | None, target: float | None) -> None:
    parent, child, server = parts.per_item_ms(n)
    server_text = "   n/a" if server is None else f"{server:6.2f}"
    line = f"  {label:<34} {n / parts.wall:8.1f}/s"
    if limit is None or target is None:
        line += " " * 29
    else:
        ratio = (n / parts.wall) / (n / limit.wall)
        verdict = "ok" if ratio >= target else "BELOW"
        line += f"  ratio {ratio:4.2f} (>= {target}) {verdict:<5}"
    line += f" {parent:6.2f} {child:6.2f} {server_text}"
    if limit is not None:
        bare_parent, bare_child, _ = limit.per_item_ms(n)
        over = parent + child - bare_parent - bare_child
        verdict = "ok" if over < OVERHEAD_TARGET_MS else "ABOVE"
        line += f"  {over:+6.2f} (< {OVERHEAD_TARGET_MS:g}) {verdict:<5}"
    else:
        line += " " * 22
    parent_faults, child_faults = parts.faults_per_item(n)
    print(f"{line} {parent_faults:6.0f} {child_faults:6.0f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument(
        "--concurrency", type=int, action="append", help="repeatable; default 2 and 8"
    )
    args = parser.parse_args()
    n = args.tasks
    server = ServerClock(app.database_url)

    load = "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"pq throughput, {n} tasks per figure (pid {os.getpid()}), {load}")
    print(
        f"  {'':<34} {'rate':>10} {'':29} {'CPU ms per task: parent  child server':>36}"
        "  over bare fork        page faults: parent child"
    )
    for concurrency in args.concurrency or (2, 8):
        bare = measure(lambda c=concurrency: bare_fork_loop(n, c), server)
        print_row(f"bare fork loop, concurrency {concurrency}", bare, n, None, None)
        for label, options in (
            ("", {}),
            (", fork server", {"fork_server": True}),
            (f", --spares {concurrency}", {"spares": concurrency}),
            (f", reuse {REUSE}", {"tasks_per_child": REUSE}),
        ):
            enqueue_noops(n)
            parts = measure(lambda c=concurrency, o=options: drain(c, o), server)
            target = TARGETS.get(concurrency) if not label.startswith(", reuse") else None
            print_row(f"drain no-ops, c={concurrency}{label}", parts, n, bare, target)

    raw_rate, _ = rate(n, lambda: raw_insert_loop(n))
    print(f"  {'raw psycopg INSERT + commit (the limit)':<44} {raw_rate:>10.1f} rows/s")
    delay_rate, _ = rate(n, lambda: delay_loop(n))
    report("task.delay()", delay_rate, "tasks/s", raw_rate, 0.8)
    print("  at the end: load average " + " ".join(f"{x:.2f}" for x in os.getloadavg()))
    app.close()


if __name__ == "__main__":
    main()
