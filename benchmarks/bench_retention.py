"""Retention and bloat: what 1M finished tasks cost on disk, what deleting them costs the queue,
and what a transaction held open elsewhere does to the drain rate.

    python benchmarks/bench_retention.py [--rows 1000000] [--days 30] [--drain 20000] [--rounds 2]

Runs in a database of its own on the server of PQ_DATABASE_URL (else the embedded one), so
the held-open transaction and the sizes are this run's alone.

1. Retention. `--rows` finished tasks (95% completed, 4% failed, 1% cancelled), finish times
   spread evenly over `--days` days, are written in one INSERT ... generate_series and
   vacuumed (the steady state of a table nobody cleans). Then two threads run the workers'
   retention turns (pq.worker.retention, default keep times: completed 7 days, failed and
   cancelled 30) back to back until nothing is left to delete, while a probe enqueues a task
   every 50 ms that a real `pq worker` runs: its enqueue time and enqueue-to-end time are
   printed for a quiet spell before and for the retention run (claims and enqueues must not
   wait on the deletes). Sizes are printed with every row (no retention), after retention and
   a plain VACUUM (the file keeps its size, the space is reused by new rows), and after
   VACUUM FULL (the size had retention run from day one).
2. Bloat. `--drain` no-op tasks drained by one worker (concurrency 4, tasks_per_child 100,
   so the database's share shows), `--rounds` times each, alternating: as is, and with
   another session holding a REPEATABLE READ transaction open for the whole drain: rates,
   their ratio, the server CPU per task (when the server runs on this host), and at the end
   of each drain the dead tuples and what one claim on the drained queue reads (EXPLAIN
   BUFFERS: a figure the machine's load does not move).
Nothing is asserted: the figures are printed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg
from psycopg import sql

from benchmarks._parts import ServerClock, measure
from benchmarks._worker_bench import scratch_database, worker_processes
from pq import PQ
from pq.store.db import PsycopgExecutor
from pq.worker.retention import Retention

SCHEMA = "pq_bench_retention"
# the benchmark drives retention itself: its workers must not
NO_RETENTION = {"PQ_RETAIN_COMPLETED": "none", "PQ_RETAIN_FAILED": "none"}
NOOP = "benchmarks.bench_retention:noop"
app = PQ()  # the worker subprocess imports this module: PQ_DATABASE_URL and PQ_SCHEMA


def _noop() -> None:
    return None


noop = app.task(name=NOOP)(_noop)  # not __main__ when run as a script


FILL = """
INSERT INTO {t} (name, queue, status, args, kwargs, result, error, outcome, run_at,
                 created_at, started_at, finished_at, attempts, history)
SELECT 'myapp.tasks:send_receipt', 'default', s.status,
       jsonb_build_array(i, 'customer-' || i), '{{}}'::jsonb,
       CASE WHEN s.status = 'completed' THEN to_jsonb(i) END,
       CASE WHEN s.status = 'failed'
            THEN 'Traceback (most recent call last):\n  File "myapp/tasks.py", line 42, in '
                 || 'send_receipt\nConnectionError: smtp.example.com timed out' END,
       s.status, f.at - interval '2 s', f.at - interval '2 s', f.at - interval '1 s', f.at, 1,
       jsonb_build_array(jsonb_build_object(
           'attempt', 1, 'outcome', s.status, 'worker_id', 7,
           'started_at', f.at - interval '1 s', 'finished_at', f.at, 'duration', 0.8))
FROM generate_series(1, %(rows)s) AS i,
     LATERAL (SELECT now() - (i::float8 / %(rows)s) * %(days)s * interval '1 day' AS at) AS f,
     LATERAL (SELECT CASE WHEN i %% 100 < 95 THEN 'completed'
                          WHEN i %% 100 < 99 THEN 'failed' ELSE 'cancelled' END AS status) AS s
"""

SIZES = """
SELECT pg_total_relation_size(c.oid) AS total, pg_relation_size(c.oid) AS heap,
       pg_indexes_size(c.oid) AS indexes,
       (SELECT count(*) FROM {t}) AS rows
FROM pg_class c WHERE c.oid = %(table)s::regclass
"""

INDEX_SIZES = """
SELECT i.indexrelid::regclass::text AS name, pg_relation_size(i.indexrelid) AS size
FROM pg_index i WHERE i.indrelid = %(table)s::regclass ORDER BY 2 DESC
"""


def mib(n: int) -> str:
    return f"{n / 1048576:8.1f} MiB"


def table(bench: PQ) -> sql.Composed:
    return sql.SQL("{}.pq_tasks").format(sql.Identifier(SCHEMA))


def print_sizes(bench: PQ, label: str) -> None:
    params = {"table": f"{SCHEMA}.pq_tasks"}
    with psycopg.connect(bench.database_url, autocommit=True) as conn:
        cur = conn.execute(sql.SQL(SIZES).format(t=table(bench)), params)
        total, heap, indexes, rows = cur.fetchone() or (0, 0, 0, 0)
        index_rows = conn.execute(INDEX_SIZES, params).fetchall()
    print(f"  {label}: {rows} rows")
    print(f"    total {mib(total)}   heap {mib(heap)}   indexes {mib(indexes)}")
    for name, size in index_rows:
        print(f"      {name.split('.')[-1]:<34} {mib(size)}")


class Probe:
    """A producer that enqueues a task every 50 ms and waits for a worker to end it."""

    def __init__(self, bench: PQ) -> None:
        self.producer = PQ(bench.database_url, schema=SCHEMA)
        self.enqueue: list[float] = []
        self.end: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.perf_counter()
            task_id = self.producer.enqueue(noop)
            self.enqueue.append((time.perf_counter() - started) * 1000)
            self.producer.wait_for_end(task_id, None)
            self.end.append((time.perf_counter() - started) * 1000)
            time.sleep(0.05)

    def __enter__(self) -> Probe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.producer.close()

    def summary(self) -> str:
        def ms(values: list[float]) -> str:
            return f"median {statistics.median(values):6.1f} ms, max {max(values):7.1f} ms"

        return f"{len(self.end)} probes; enqueue {ms(self.enqueue)}; enqueue-to-end {ms(self.end)}"


def run_retention(bench: PQ, threads: int) -> tuple[int, int]:
    """Workers' retention turns in `threads` threads until none deletes a row: (rows, turns)."""
    totals: list[tuple[int, int]] = []

    def turns() -> None:
        retention = Retention(7 * 86400.0, 30 * 86400.0)  # the defaults (pq.settings)
        deleted = count = 0
        with psycopg.connect(bench.database_url, autocommit=True) as conn:
            ex = PsycopgExecutor(conn)
            while True:
                n = retention.run(bench.queries, ex)
                deleted, count = deleted + n, count + 1
                if n == 0:
                    break
        totals.append((deleted, count))

    workers = [threading.Thread(target=turns) for _ in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    return sum(t[0] for t in totals), sum(t[1] for t in totals)


def vacuum(bench: PQ, full: bool = False) -> None:
    with psycopg.connect(bench.database_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("VACUUM {} ANALYZE {}").format(sql.SQL("FULL" if full else ""), table(bench))
        )


def part_retention(bench: PQ, rows: int, days: int, threads: int) -> None:
    print(f"1. retention of {rows} finished tasks spread over {days} days")
    started = time.perf_counter()
    with psycopg.connect(bench.database_url, autocommit=True) as conn:
        conn.execute(sql.SQL(FILL).format(t=table(bench)), {"rows": rows, "days": days})
    vacuum(bench)
    print(f"  filled and vacuumed in {time.perf_counter() - started:.1f} s")
    print_sizes(bench, "without retention (every finished row kept)")
    with worker_processes(
        bench, "benchmarks.bench_retention:app", 1, "--concurrency", "2", env=NO_RETENTION
    ):
        with Probe(bench) as quiet:
            time.sleep(10)
        print(f"  before retention: {quiet.summary()}")
        with Probe(bench) as during:
            started = time.perf_counter()
            deleted, turns = run_retention(bench, threads)
            elapsed = time.perf_counter() - started
        print(
            f"  retention: {deleted} rows deleted in {elapsed:.1f} s ({deleted / elapsed:.0f}/s)"
            f" by {threads} workers' turns ({turns} turns)"
        )
        print(f"  during retention: {during.summary()}")
    vacuum(bench)
    print_sizes(bench, "after retention and VACUUM (space reused by new rows, file not shrunk)")
    vacuum(bench, full=True)
    print_sizes(bench, "after VACUUM FULL (the size with retention on from day one)")


def enqueue_pending(bench: PQ, count: int) -> None:
    with psycopg.connect(bench.database_url, autocommit=True) as conn:
        conn.execute(sql.SQL("TRUNCATE {}").format(table(bench)))
        conn.execute(
            sql.SQL("INSERT INTO {} (name) SELECT %(name)s FROM generate_series(1, %(n)s)").format(
                table(bench)
            ),
            {"name": NOOP, "n": count},
        )
        conn.execute(sql.SQL("VACUUM ANALYZE {}").format(table(bench)))


@contextmanager
def held_open(bench: PQ, hold: bool) -> Iterator[None]:
    """Another session with a REPEATABLE READ transaction open (its snapshot holds back
    vacuum of every row deleted or updated after it began), or nothing."""
    if not hold:
        yield
        return
    with psycopg.connect(bench.database_url) as conn:
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.execute(sql.SQL("SELECT count(*) FROM {}").format(table(bench)))
        yield
        conn.rollback()


def dead_tuples(bench: PQ) -> int:
    with psycopg.connect(bench.database_url, autocommit=True) as conn:
        conn.execute("SELECT pg_stat_clear_snapshot()")
        row = conn.execute(
            "SELECT n_dead_tup FROM pg_stat_user_tables WHERE relid = %s::regclass",
            (f"{SCHEMA}.pq_tasks",),
        ).fetchone()
    return int(row[0]) if row else 0


# The claim's first step (pq/store/sql/task_claim.sql): the highest priority pending in a
# queue, read from the pending index; on a drained queue it walks every claimed row's entry.
EMPTY_CLAIM = """
EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON)
SELECT priority FROM {t}
WHERE status = 'pending' AND queue = 'default'
ORDER BY priority DESC LIMIT 1
"""


def empty_claim(bench: PQ) -> tuple[int, float]:
    """(buffers, ms) the claim's index walk costs on the drained queue: it steps over the
    entries of every claimed row, and reads their heap rows while vacuum may not remove them."""
    with psycopg.connect(bench.database_url, autocommit=True) as conn:
        # The second walk is the one to read: the first marks the entries of rows vacuum
        # could remove as dead in the index (what a claim does), so later walks skip them.
        conn.execute(sql.SQL(EMPTY_CLAIM).format(t=table(bench)))
        row = conn.execute(sql.SQL(EMPTY_CLAIM).format(t=table(bench))).fetchone()
    plan = row[0][0] if row else {}
    top = plan.get("Plan", {})
    buffers = int(top.get("Shared Hit Blocks", 0)) + int(top.get("Shared Read Blocks", 0))
    return buffers, float(plan.get("Execution Time", 0.0))


class BackendClock:
    """CPU seconds of this database's server backends (the worker's sessions, autovacuum's),
    sampled every 0.2 s from /proc while a drain runs: on a server shared with other work,
    the postmaster's total would count everyone's. A backend's last 0.2 s before it exits
    may be missed. None when the server's processes cannot be read (not on this host)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.seen: dict[int, tuple[float, float]] = {}  # pid -> (first, last) CPU seconds
        self.readable = True
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            query = (
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                " AND pid <> pg_backend_pid()"
            )
            while True:
                for (pid,) in conn.execute(query).fetchall():
                    self._sample(int(pid))
                if self._stop.wait(0.2):
                    return

    def _sample(self, pid: int) -> None:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            self.readable = self.readable and pid in self.seen
            return
        rest = fields[fields.rindex(")") + 2 :].split()
        cpu = (int(rest[11]) + int(rest[12])) / os.sysconf("SC_CLK_TCK")
        first = self.seen.get(pid, (0.0, 0.0))[0] if pid in self.seen else cpu
        self.seen[pid] = (first, cpu)

    def __enter__(self) -> BackendClock:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def seconds(self) -> float | None:
        if not self.readable or not self.seen:
            return None
        return sum(last - first for first, last in self.seen.values())


def part_bloat(bench: PQ, count: int, rounds: int) -> None:
    print(f"2. drain of {count} no-op tasks (1 worker, concurrency 4, tasks_per_child 100)")
    drainer = PQ(bench.database_url, schema=SCHEMA)
    drainer.task(name=NOOP)(_noop)
    server = ServerClock(bench.database_url)
    rates: dict[bool, list[float]] = {False: [], True: []}
    options: dict[str, Any] = {"concurrency": 4, "burst": True, "poll_interval": 0.05}
    for _ in range(rounds):  # alternating, so a change in the machine's load hits both
        for hold in (False, True):
            enqueue_pending(bench, count)
            with held_open(bench, hold), BackendClock(bench.database_url) as backends:
                parts = measure(lambda: drainer.run_worker(**options, tasks_per_child=100), server)
                dead = dead_tuples(bench)
                buffers, claim_ms = empty_claim(bench)
            rates[hold].append(count / parts.wall)
            spent = backends.seconds()
            server_ms = "n/a" if parts.server is None else f"{parts.server / count * 1000:.2f} ms"
            server_ms += " all server" + (
                "" if spent is None else f", {spent / count * 1000:.2f} ms this database's backends"
            )
            label = "with a transaction held open" if hold else "nothing held open"
            print(
                f"  {label:<30} {rates[hold][-1]:7.1f} tasks/s, server CPU per task {server_ms};"
                f" at the end: {dead} dead tuples, an empty claim reads {buffers} buffers"
                f" in {claim_ms:.1f} ms"
            )
    drainer.close()
    held, free = statistics.median(rates[True]), statistics.median(rates[False])
    print(f"  ratio held open / nothing held (medians): {held / free:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--threads", type=int, default=2, help="workers running retention")
    parser.add_argument("--drain", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=2, help="drains of each kind")
    parser.add_argument("--skip", choices=["retention", "bloat"], action="append", default=[])
    options = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} at start")
    with scratch_database(SCHEMA) as bench:
        if "retention" not in options.skip:
            part_retention(bench, options.rows, options.days, options.threads)
        if "bloat" not in options.skip:
            part_bloat(bench, options.drain, options.rounds)
    print(f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} at end")


if __name__ == "__main__":
    main()
