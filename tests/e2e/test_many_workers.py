"""4 workers on 5,000 tasks, hurt while they run; every run leaves a line that is loaded into
the table pq_side_effects and counted there.

Without retries a task runs at most once and none is lost (each ends completed, or failed as
lost when its worker was killed); with retries every task completes (at least once).
"""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest
from workerproc import WorkerProcess, kill_orphans, terminate_backends, workers

from pq import PQ
from pq.producer.task import TaskFunction
from taskmods import e2eapp
from waiting import wait_for_count

TASKS = 5000


def enqueue_all(db_url: str, task: TaskFunction[..., object], effects: Path) -> None:
    options = json.dumps(task.options.row_options())
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO pq_tasks (name, args, options, max_attempts) "
            "SELECT %s, jsonb_build_array(%s::text, g), %s::jsonb, %s "
            "FROM generate_series(1, %s) AS g",
            (task.name, str(effects), options, task.options.retries + 1, TASKS),
        )


def load_effects(db_url: str, effects: Path) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE pq_side_effects (task_key integer NOT NULL, pid integer)")
        with conn.cursor().copy("COPY pq_side_effects FROM STDIN") as copy:
            copy.write(effects.read_bytes())


def one_value(db_url: str, query: str) -> int:
    with psycopg.connect(db_url, autocommit=True) as conn:
        row = conn.execute(query).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def finished(db_url: str) -> int:
    return one_value(
        db_url, "SELECT count(*) FROM pq_tasks WHERE status IN ('completed', 'failed')"
    )


def run_with_havoc(db_url: str, tmp_path: Path) -> None:
    """Runs 4 workers to the end; kills one mid-run (and starts another), cuts every session."""
    with workers(db_url, tmp_path, 4, "--concurrency", "2") as procs:
        wait_for_count(lambda: finished(db_url), TASKS // 5)
        victim = procs[0]
        orphans = victim.children()
        victim.kill()
        kill_orphans(orphans)
        procs.append(WorkerProcess(db_url, tmp_path / "replacement.log"))
        wait_for_count(lambda: finished(db_url), TASKS // 2)
        terminate_backends(db_url)
        wait_for_count(lambda: finished(db_url), TASKS)


@pytest.mark.slow
@pytest.mark.timeout(1200)  # bounded by progress (wait_for_count), not by the total time
def test_without_retries_no_task_runs_twice_and_none_is_lost(
    app: PQ, db_url: str, tmp_path: Path
) -> None:
    effects = tmp_path / "effects.tsv"
    enqueue_all(db_url, e2eapp.side_effect, effects)
    run_with_havoc(db_url, tmp_path)
    load_effects(db_url, effects)

    runs_max = one_value(
        db_url, "SELECT max(n) FROM (SELECT count(*) AS n FROM pq_side_effects GROUP BY task_key) c"
    )
    assert runs_max == 1
    completed_without_effect = one_value(
        db_url,
        "SELECT count(*) FROM pq_tasks t WHERE status = 'completed' AND NOT EXISTS "
        "(SELECT 1 FROM pq_side_effects s WHERE s.task_key = (t.args->>1)::int)",
    )
    assert completed_without_effect == 0
    failed_not_lost = one_value(
        db_url, "SELECT count(*) FROM pq_tasks WHERE status = 'failed' AND outcome <> 'lost'"
    )
    assert failed_not_lost == 0


@pytest.mark.slow
@pytest.mark.timeout(1200)  # bounded by progress (wait_for_count), not by the total time
def test_with_retries_every_task_completes(app: PQ, db_url: str, tmp_path: Path) -> None:
    effects = tmp_path / "effects.tsv"
    enqueue_all(db_url, e2eapp.side_effect_retried, effects)
    run_with_havoc(db_url, tmp_path)
    load_effects(db_url, effects)

    completed = one_value(db_url, "SELECT count(*) FROM pq_tasks WHERE status = 'completed'")
    assert completed == TASKS
    keys_with_effect = one_value(db_url, "SELECT count(DISTINCT task_key) FROM pq_side_effects")
    assert keys_with_effect == TASKS
