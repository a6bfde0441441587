"""The fork server against forking in the worker loop, in alternating rounds.

    python benchmarks/bench_fork_server.py [--tasks 500] [--rounds 5] [--concurrency 2 ...]

On a shared machine one drain after the other measures the load as much as the mode: each
round here runs a bare fork/_exit/wait loop (the limit), then a fresh-child drain forking in
the worker loop and one forking through the fork server (`fork_server=True`), in
alternating order, and prints each round's ratio of the two and the medians. CPU is the
worker parent's plus its children's (the fork server's own included) per task; page faults
are per task, parent and children. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import statistics

from bench_throughput import app, bare_fork_loop, drain, enqueue_noops

from _parts import ServerClock, measure

MODES = (("in the loop", {}), ("fork server", {"fork_server": True}))


def _round(n: int, concurrency: int, server: ServerClock, flip: bool) -> dict[str, tuple]:
    bare = measure(lambda: bare_fork_loop(n, concurrency), server)
    found = {"bare": (n / bare.wall, sum(bare.per_item_ms(n)[:2]), bare.faults_per_item(n))}
    for label, options in reversed(MODES) if flip else MODES:
        enqueue_noops(n)
        parts = measure(lambda o=options: drain(concurrency, o), server)
        found[label] = (n / parts.wall, sum(parts.per_item_ms(n)[:2]), parts.faults_per_item(n))
    return found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--concurrency", type=int, action="append")
    args = parser.parse_args()
    server = ServerClock(app.database_url)
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    what = f"{args.tasks} tasks x {args.rounds} rounds"
    print(f"fork server vs forking in the loop, {what}, load average {load}")
    for concurrency in args.concurrency or (2, 8):
        rounds = [_round(args.tasks, concurrency, server, r % 2 == 1) for r in range(args.rounds)]
        ratios = [r["fork server"][0] / r["in the loop"][0] for r in rounds]
        print(
            f"  concurrency {concurrency}: fork server / in the loop, per round: "
            + " ".join(f"{x:.2f}" for x in ratios)
            + f"  (median {statistics.median(ratios):.2f})"
        )
        for label in ("bare", "in the loop", "fork server"):
            rate = statistics.median(r[label][0] for r in rounds)
            cpu = statistics.median(r[label][1] for r in rounds)
            parent = statistics.median(r[label][2][0] for r in rounds)
            child = statistics.median(r[label][2][1] for r in rounds)
            bare = statistics.median(r["bare"][0] for r in rounds)
            print(
                f"    {label:<12} {rate:7.1f}/s ({rate / bare:.2f}x bare)  CPU {cpu:5.2f} ms/task"
                f"  page faults parent {parent:4.0f} children {child:4.0f}"
            )
    print("  at the end: load " + " ".join(f"{x:.2f}" for x in os.getloadavg()))
    app.close()


if __name__ == "__main__":
    main()
