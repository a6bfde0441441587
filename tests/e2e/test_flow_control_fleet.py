"""Flow control across a fleet of real `pq worker` processes: a global rate limit holds for
every interval of its window (start times from the database clock), and a per-key limit of 1
never lets two runs of one key overlap while other keys run side by side."""

from __future__ import annotations

import itertools
from datetime import timedelta
from pathlib import Path

import psycopg
from workerproc import WorkerProcess

from pq import PQ, TaskStatus
from taskmods import flowapp
from waiting import wait_until

APP = "taskmods.flowapp:app"


def _rows(db_url: str, query: str) -> list[tuple[object, ...]]:
    with psycopg.connect(db_url, autocommit=True) as conn:
        return conn.execute(query).fetchall()


def _ended(db_url: str) -> int:
    (row,) = _rows(db_url, "SELECT count(*) FROM pq_tasks WHERE status = 'completed'")
    return int(row[0])  # type: ignore[call-overload]


def test_a_rate_limit_holds_for_the_whole_fleet_and_drops_nothing(
    app: PQ, db_url: str, tmp_path: Path
) -> None:
    noop = app.task(flowapp.noop, rate_limit="20/s")
    tasks = [noop.delay() for _ in range(220)]
    assert tasks[0].status() is TaskStatus.WAITING
    procs = [
        WorkerProcess(db_url, tmp_path / f"w{n}.log", "--concurrency", "2", app=APP)
        for n in range(4)
    ]
    try:
        wait_until(lambda: _ended(db_url) == len(tasks), timeout=120, interval=0.2)
    finally:
        for proc in procs:
            proc.stop()
    starts = sorted(r[0] for r in _rows(db_url, "SELECT started_at FROM pq_tasks"))
    assert len(starts) == 220
    assert starts[-1] - starts[0] >= timedelta(seconds=10)  # 220 at 20/s: 11 windows
    second = timedelta(seconds=1)
    busiest = max(sum(1 for s in starts[i:] if s - t < second) for i, t in enumerate(starts))
    assert busiest <= 20
    ran_on = {r[0] for r in _rows(db_url, "SELECT history->0->>'worker_id' FROM pq_tasks")}
    assert len(ran_on) > 1  # the limit was shared, not per worker


def test_a_key_runs_one_task_at_a_time_while_other_keys_run_alongside(
    app: PQ, db_url: str, tmp_path: Path
) -> None:
    nap = app.task(flowapp.nap, max_concurrency_per_key=1)
    for _ in range(6):
        for key in ("customer-1", "customer-2", "customer-3"):
            nap.apply_async((0.2,), concurrency_key=key)
    procs = [
        WorkerProcess(db_url, tmp_path / f"w{n}.log", "--concurrency", "3", app=APP)
        for n in range(2)
    ]
    try:
        wait_until(lambda: _ended(db_url) == 18, timeout=120, interval=0.2)
    finally:
        for proc in procs:
            proc.stop()
    runs = _rows(
        db_url,
        "SELECT concurrency_key, started_at, finished_at, id FROM pq_tasks "
        "ORDER BY concurrency_key, started_at",
    )
    by_key: dict[object, list[tuple[object, ...]]] = {}
    for run in runs:
        by_key.setdefault(run[0], []).append(run)
    for key_runs in by_key.values():
        for before, after in itertools.pairwise(key_runs):
            assert after[1] >= before[2], f"two runs of {before[0]} overlapped"
        assert [r[3] for r in key_runs] == sorted(r[3] for r in key_runs)  # FIFO per key
    overlapping_keys = any(a[0] != b[0] and a[1] < b[2] and b[1] < a[2] for a in runs for b in runs)
    assert overlapping_keys  # the limit is per key: different keys ran at the same time
