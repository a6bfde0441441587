"""Supervision during a silent network cut, against the same worker with the network up.

    python benchmarks/bench_network_cut.py [--rounds 3]

Real `pq worker` processes reach Postgres through a proxy that can stop forwarding while
keeping its sockets open (tests/netcut.py): a cut with no reset. For each figure the same
measurement runs first with the network up (the baseline) then cut, and the ratio is printed:

- overrun: how long a `max_runtime=2` task outlives its deadline (lease 60 s, so only the
  deadline can kill it);
- stop: from SIGTERM to the worker's exit, with `PQ_DRAIN_TIMEOUT=1` and a task that would run
  a minute;
- lease: with a 4 s lease, from the cut to the task being stopped (never with the network up).

Uses PQ_BENCH_SERVER_URL (default postgresql://postgres@127.0.0.1:5432/postgres) and a
scratch database it drops at the end. Run `uptime` beside it: figures move with the load.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from netcut import FreezableProxy  # noqa: E402
from workerproc import WorkerProcess, kill_orphans  # noqa: E402

from pq import PQ  # noqa: E402
from taskmods import cutapp  # noqa: E402

APP = "taskmods.cutapp:app"
BASE_ENV = {"PQ_POOLED": "0", "PQ_HEARTBEAT_INTERVAL": "0.5"}


def _wait(condition: Callable[[], object], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"not met within {timeout}s")
        time.sleep(0.005)


def _started(path: Path) -> int:
    _wait(lambda: path.exists() and path.read_text().split())
    return int(path.read_text().split()[0])


def overrun(app: PQ, proxy: FreezableProxy, tmp: Path, cut: bool) -> float:
    pid_file = tmp / f"overrun-{time.monotonic_ns()}"
    app.enqueue(cutapp.overstays, str(pid_file))
    worker = WorkerProcess(proxy.url(), tmp / "w.log", env={**BASE_ENV, "PQ_LEASE": "60"}, app=APP)
    child = 0
    try:
        child = _started(pid_file)
        began = pid_file.stat().st_mtime
        if cut:
            proxy.freeze()
        _wait(lambda: not cutapp._alive(child))
        return time.time() - began - 2.0
    finally:
        proxy.heal()
        worker.kill()
        if child:  # never 0: killpg(0) is our own group
            kill_orphans([child])


def stop(app: PQ, proxy: FreezableProxy, tmp: Path, cut: bool) -> float:
    runs = tmp / f"stop-{time.monotonic_ns()}"
    app.enqueue(cutapp.long_then_short, str(runs), 60)
    env = {**BASE_ENV, "PQ_LEASE": "60", "PQ_DRAIN_TIMEOUT": "1"}
    worker = WorkerProcess(proxy.url(), tmp / "w.log", env=env, app=APP)
    child = 0
    try:
        child = _started(runs)
        if cut:
            proxy.freeze()
            time.sleep(1)  # the worker is inside a database call that gets no answer
        began = time.monotonic()
        worker.signal(signal.SIGTERM)
        worker.proc.wait(60)
        return time.monotonic() - began
    finally:
        proxy.heal()
        worker.kill()
        if child:  # never 0: killpg(0) is our own group
            kill_orphans([child])


def lease(app: PQ, proxy: FreezableProxy, tmp: Path) -> float:
    runs = tmp / f"lease-{time.monotonic_ns()}"
    app.enqueue(cutapp.long_then_short, str(runs), 60)
    worker = WorkerProcess(proxy.url(), tmp / "w.log", env={**BASE_ENV, "PQ_LEASE": "4"}, app=APP)
    child = 0
    try:
        child = _started(runs)
        time.sleep(1)
        proxy.freeze()
        began = time.monotonic()
        _wait(lambda: not cutapp._alive(child))
        return time.monotonic() - began
    finally:
        proxy.heal()
        worker.kill()
        if child:  # never 0: killpg(0) is our own group
            kill_orphans([child])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    rounds = parser.parse_args().rounds
    server = os.environ.get("PQ_BENCH_SERVER_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    name = f"pq_bench_cut_{os.getpid()}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    params = psycopg.conninfo.conninfo_to_dict(server)
    params["dbname"] = name
    url = psycopg.conninfo.make_conninfo(**params)  # type: ignore[arg-type]
    app = PQ(url)
    proxy = FreezableProxy(url)
    try:
        app.run_db_migrations()
        with tempfile.TemporaryDirectory() as d:
            tmp = Path(d)
            measures = (("overrun past max_runtime", overrun), ("SIGTERM -> exit", stop))
            for label, measure in measures:
                up = [measure(app, proxy, tmp, False) for _ in range(rounds)]
                down = [measure(app, proxy, tmp, True) for _ in range(rounds)]
                base, cut = statistics.median(up), statistics.median(down)
                print(
                    f"{label:<26} network up {base:6.2f} s   cut {cut:6.2f} s (worst "
                    f"{max(down):.2f})   ratio {cut / base:5.2f}"
                )
            stopped = [lease(app, proxy, tmp) for _ in range(rounds)]
            print(
                f"{'cut -> task stopped':<26} lease 4 s: median {statistics.median(stopped):.2f} s"
                f" (worst {max(stopped):.2f}); never with the network up"
            )
    finally:
        proxy.close()
        app.close()
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


if __name__ == "__main__":
    main()
