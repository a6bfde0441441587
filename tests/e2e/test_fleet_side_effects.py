"""8 worker processes on 10,000 tasks: each task's side effect happens exactly once.

The tasks arrive in batches while the workers run (each batch one NOTIFY that wakes every
idle worker at once), so claims race all the time, and idle workers that lose a race pause
before answering the next notices (pq/worker/herd.py). Every run leaves a line in a file,
loaded into a table and counted there: none duplicated, none missing.
"""

from __future__ import annotations

import time
from pathlib import Path

import psycopg
import pytest
from workerproc import registered_workers, workers

from pq import PQ
from taskmods import e2eapp
from waiting import wait_for_count, wait_until

TASKS = 10_000
BATCH = 500


def _count(db_url: str, query: str) -> int:
    with psycopg.connect(db_url, autocommit=True) as conn:
        row = conn.execute(query).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


@pytest.mark.slow
@pytest.mark.timeout(1800)  # bounded by progress (wait_for_count), not by the total time
def test_eight_workers_run_ten_thousand_tasks_each_exactly_once(
    app: PQ, db_url: str, tmp_path: Path
) -> None:
    effects = tmp_path / "effects.tsv"
    effects.touch()
    with workers(db_url, tmp_path, 8, "--concurrency", "2"):
        wait_until(lambda: registered_workers(db_url) == 8, timeout=120)
        for start in range(0, TASKS, BATCH):
            items = [(str(effects), key) for key in range(start, start + BATCH)]
            app.enqueue_many(e2eapp.side_effect, items)
            time.sleep(0.05)
        done = "SELECT count(*) FROM pq_tasks WHERE status IN ('completed', 'failed')"
        wait_for_count(lambda: _count(db_url, done), TASKS)
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE pq_side_effects (task_key integer NOT NULL, pid integer)")
        with conn.cursor().copy("COPY pq_side_effects FROM STDIN") as copy:
            copy.write(effects.read_bytes())

    completed = _count(db_url, "SELECT count(*) FROM pq_tasks WHERE status = 'completed'")
    assert completed == TASKS
    duplicated = _count(
        db_url,
        "SELECT count(*) FROM (SELECT task_key FROM pq_side_effects GROUP BY task_key "
        "HAVING count(*) > 1) AS d",
    )
    assert duplicated == 0
    present = _count(db_url, "SELECT count(DISTINCT task_key) FROM pq_side_effects")
    assert present == TASKS  # none missing
    claimed_twice = _count(db_url, "SELECT count(*) FROM pq_tasks WHERE attempts <> 1")
    assert claimed_twice == 0
