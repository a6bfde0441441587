"""Waiting on a large group: the CPU that handle.get() spends while a real worker runs it.

    python benchmarks/bench_workflow_get.py [--members 2000]

A group of MEMBERS no-op tasks is started and a real `pq worker` (concurrency 8) runs it while
this process waits in get(). The handle wakes up whenever the member it waits on ends and reads
the group again: the figure is get()'s CPU (this process) and wall time, beside the limit
measured in the same run, the CPU of one read of the whole finished group (handle.tasks(), every
row decoded once). A wait that decoded every row at each wake-up costs hundreds of such reads;
one that reads whole rows only for the members that ended since its last read costs a few.
Nothing is asserted: the figures are printed.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._worker_bench import scratch_app, worker_process
from pq import PQ, group

app = PQ()  # the worker subprocess imports this module: PQ_DATABASE_URL and PQ_SCHEMA


@app.task(name="benchmarks.bench_workflow_get:noop")  # not __main__ when run as a script
def noop(n: int) -> int:
    return n


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--members", type=int, default=2000)
    members = parser.parse_args().members
    with scratch_app("pq_bench_workflow_get") as bench:
        task = bench.task(noop.fn, name=noop.name)
        handle = group(task.s(n) for n in range(members)).delay()
        with worker_process(bench, "benchmarks.bench_workflow_get:app", "--concurrency", "8"):
            cpu, wall = time.process_time(), time.perf_counter()
            results = handle.get(timeout=600)
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        assert results == list(range(members)), "the group's results are wrong"
        one = time.process_time()
        handle.tasks()
        one = time.process_time() - one
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"get() on a group of {members} no-op members run by one worker (c=8), load {load}")
    print(f"  get(): {cpu * 1000:8.1f} ms CPU in this process, {wall:6.2f} s wall")
    print(f"  one read of the finished group (the limit): {one * 1000:6.1f} ms CPU")
    print(f"  ratio: {cpu / one:6.1f} reads' worth of CPU (a few: each row decoded once)")


if __name__ == "__main__":
    main()
