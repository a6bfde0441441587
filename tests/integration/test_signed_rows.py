"""With a secret_key, a row runs only if the key signed its name, args, kwargs and options.

The attacker writes or edits rows with plain SQL and does not hold the key.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest

from pq import PQ, TaskStatus
from taskmods import funcs

KEY = "test-secret-key"


@pytest.fixture
def signed_app(db_url: str) -> PQ:
    return PQ(db_url, secret_key=KEY, include=["taskmods"])


def _sql(db_url: str, query: str, *params: object) -> list[tuple[object, ...]]:
    with psycopg.connect(db_url, autocommit=True) as conn:
        cur = conn.execute(query, params)
        return cur.fetchall() if cur.description else []


def _runs(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def _refused(app: PQ, task_id: int) -> None:
    task = app.get_task(task_id)
    assert task is not None and task.status is TaskStatus.FAILED
    assert "signature does not match secret_key" in (task.error or "")


def test_every_way_of_enqueueing_signs_its_rows(signed_app: PQ, tmp_path: Path) -> None:
    out = tmp_path / "runs"
    weird = [1e300, -0.0, 0.1, 2**70, {"b": 1, "a": [1.0, "é"]}]  # reshaped by jsonb
    task = signed_app.task(funcs.append_line)
    handles = [task.delay(str(out), "delay")]
    ids = [
        signed_app.enqueue(funcs.append_line, str(out), "enqueue"),
        signed_app.upsert(funcs.append_line, str(out), "upsert", client_id="c1"),
        *signed_app.enqueue_many(funcs.append_line, [(str(out), "bulk1"), (str(out), "bulk2")]),
        signed_app.enqueue(funcs.add, weird, []),
    ]
    signed_app.run_worker(burst=True)
    assert sorted(_runs(out)) == ["bulk1", "bulk2", "delay", "enqueue", "upsert"]
    assert handles[0].status() is TaskStatus.COMPLETED
    assert all(signed_app.get_task(i).status is TaskStatus.COMPLETED for i in ids)  # type: ignore[union-attr]
    signed_app.close()


def test_a_row_written_with_sql_runs_nothing_even_for_a_registered_task(
    signed_app: PQ, db_url: str, tmp_path: Path
) -> None:
    out = tmp_path / "runs"
    signed_app.task(funcs.append_line)
    (task_id,) = _sql(
        db_url,
        "INSERT INTO pq_tasks (name, args) VALUES ('taskmods.funcs:append_line', %s::jsonb) "
        "RETURNING id",
        json.dumps([str(out), "forged"]),
    )[0]
    signed_app.run_worker(burst=True)
    assert _runs(out) == []
    _refused(signed_app, int(task_id))  # type: ignore[call-overload]
    signed_app.close()


@pytest.mark.parametrize(
    "change",
    [
        "args = jsonb_set(args, '{1}', '\"tampered\"')",
        'kwargs = \'{"text": "tampered"}\'::jsonb, args = jsonb_build_array(args->0)',
        "options = options || '{\"max_runtime\": 99}'::jsonb",
        "name = 'taskmods.funcs:fail'",
    ],
)
def test_a_signed_row_changed_with_sql_runs_nothing(
    signed_app: PQ, db_url: str, tmp_path: Path, change: str
) -> None:
    out = tmp_path / "runs"
    task_id = signed_app.enqueue(funcs.append_line, str(out), "original")
    _sql(db_url, f"UPDATE pq_tasks SET {change} WHERE id = %s", task_id)
    signed_app.run_worker(burst=True)
    assert _runs(out) == []
    _refused(signed_app, task_id)
    signed_app.close()


def test_schedules_tick_when_signed_and_never_when_forged(
    signed_app: PQ, db_url: str, tmp_path: Path
) -> None:
    out = tmp_path / "runs"
    signed_app.schedule(funcs.append_line, str(out), "tick", run_every=timedelta(hours=1))
    _sql(
        db_url,
        "INSERT INTO pq_periodic (name, key, args, every_seconds, next_run) "
        "VALUES ('taskmods.funcs:append_line', 'forged', %s::jsonb, 1, now())",
        json.dumps([str(out), "forged"]),
    )
    _sql(db_url, "UPDATE pq_periodic SET next_run = now() - interval '1 second'")
    signed_app.run_worker(burst=True)
    assert _runs(out) == ["tick"]
    orphaned = _sql(db_url, "SELECT key FROM pq_periodic WHERE orphaned_at IS NOT NULL")
    assert orphaned == [("forged",)]
    signed_app.close()
