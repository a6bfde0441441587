"""Idle workers that lost a race for a notice answer the next ones after a short pause
(pq/worker/herd.py): a task enqueued while every idle worker is pausing must still start
within a moment, never wait for the poll interval, and run once.

4 real `pq worker`s listen with a 60 s poll interval, so a task that depended on a poll would
wait up to a minute; tasks arrive alone, in pairs (one worker wins, the others lose and
pause) and in quick bursts (the producer's notify window sends one trailing NOTIFY), with
gaps that fall inside and outside the pauses.
"""

from __future__ import annotations

import time
from pathlib import Path

import psycopg
from sessions import task_listeners
from workerproc import registered_workers, workers

from pq import PQ
from taskmods import e2eapp
from waiting import wait_for_count, wait_until

POLL = "60"
# Far below the poll interval, far above a pause (0.5 s at most) on a loaded machine.
BOUND = 15.0
GAPS = [0.0, 0.01, 0.3, 0.0, 0.05, 0.6, 0.02, 0.0, 0.15, 1.2, 0.0, 0.0, 0.0, 0.4, 0.03]


def test_tasks_reach_idle_pausing_workers_without_waiting_for_a_poll(
    app: PQ, db_url: str, tmp_path: Path
) -> None:
    effects = tmp_path / "effects.txt"
    env = {"PQ_POLL_INTERVAL": POLL}
    with workers(db_url, tmp_path, 4, "--concurrency", "1", env=env):
        wait_until(lambda: registered_workers(db_url) == 4, timeout=60)
        # one of them holds the listener slot (pq/worker/slot.py), the others wait for it
        wait_until(lambda: task_listeners(db_url) == 1, timeout=60)
        ids = []
        for round_ in range(3):
            for index, gap in enumerate(GAPS):
                ids.append(app.enqueue(e2eapp.side_effect, str(effects), round_ * 100 + index))
                time.sleep(gap)
        with psycopg.connect(db_url, autocommit=True) as conn:
            done = "SELECT count(*) FROM pq_tasks WHERE status = 'completed'"
            wait_for_count(lambda: int(conn.execute(done).fetchone()[0]), len(ids))  # type: ignore[index]
            rows = conn.execute(
                "SELECT id, attempts, EXTRACT(EPOCH FROM started_at - created_at) "
                "FROM pq_tasks WHERE id = ANY(%s)",
                (ids,),
            ).fetchall()
    waits = {int(r[0]): float(r[2]) for r in rows}
    assert sorted(waits) == sorted(ids)
    assert all(int(r[1]) == 1 for r in rows)  # each claimed once
    slowest = max(waits.values())
    assert slowest < BOUND, f"a task waited {slowest:.1f}s for an idle listening worker"
    keys = [int(line.split("\t")[0]) for line in effects.read_text().splitlines()]
    assert sorted(keys) == sorted(r * 100 + i for r in range(3) for i in range(len(GAPS)))
