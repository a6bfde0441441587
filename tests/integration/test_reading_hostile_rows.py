"""Reading a row someone wrote with plain SQL, in a shape pq never writes: `get_task`, the
lists, `pq task ID` and the dashboard show it (the odd columns as stored), never a traceback."""

from __future__ import annotations

import json
import warnings

import psycopg
import pytest

from pq import PQ, TaskStatus
from pqcli import run_pq

APP = "taskmods.opsapp:app"

SHAPES = [
    ("options", "[1, 2]", [1, 2]),
    ("options", '"fast"', "fast"),
    ("args", '{"a": 1}', {"a": 1}),
    ("kwargs", "[1]", [1]),
    ("history", '{"attempt": "x"}', {"attempt": "x"}),
    ("history", '[{"attempt": 1, "outcome": "exploded"}]', [{"attempt": 1, "outcome": "exploded"}]),
]


def _insert(db_url: str, column: str, value: str) -> int:
    with psycopg.connect(db_url, autocommit=True) as conn:
        row = conn.execute(
            f"INSERT INTO pq_tasks (name, {column}, status, finished_at) "
            "VALUES ('taskmods.funcs:noop', %s::jsonb, 'failed', now()) RETURNING id",
            (value,),
        ).fetchone()
    assert row is not None
    return int(row[0])


# On the code before, each of these reads raised pydantic's ValidationError.
@pytest.mark.parametrize(("column", "stored", "decoded"), SHAPES)
def test_get_task_shows_a_hand_written_row_with_its_odd_column_as_stored(
    app: PQ, db_url: str, column: str, stored: str, decoded: object
) -> None:
    task_id = _insert(db_url, column, stored)
    task = app.get_task(task_id)
    assert task is not None
    assert task.status is TaskStatus.FAILED
    assert task.invalid == {column: decoded}
    assert getattr(task, column) in ([], {})  # the field itself keeps its type
    assert task_id in [t.id for t in app.list_failed()]  # one odd row does not break a list


def test_pq_task_and_the_dashboard_show_a_hand_written_row(app: PQ, db_url: str) -> None:
    task_id = _insert(db_url, "options", "[1, 2]")
    shown = run_pq("task", APP, str(task_id), db_url=db_url, env={"COLUMNS": "120"})
    assert shown.returncode == 0, shown.stderr
    assert "Traceback" not in shown.stderr
    assert "options (invalid)" in shown.stdout and "[1, 2]" in shown.stdout
    as_json = run_pq("task", APP, str(task_id), "--json", db_url=db_url)
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout)["invalid"] == {"options": [1, 2]}

    pytest.importorskip("starlette", reason="the dashboard extra is not installed")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # starlette's notice about httpx vs httpx2
        from starlette.testclient import TestClient

    from pq.dashboard import dashboard

    client = TestClient(dashboard(app), base_url="http://127.0.0.1")
    page = client.get(f"/tasks/{task_id}")
    assert page.status_code == 200, page.text[:500]
    assert client.get("/tasks").status_code == 200


def test_a_document_too_deep_to_decode_is_shown_not_raised(app: PQ, db_url: str) -> None:
    deep = "[" * 3000 + "]" * 3000  # RecursionError in json.loads, on the code before
    task_id = _insert(db_url, "args", deep)
    task = app.get_task(task_id)
    assert task is not None and task.args == []
    assert "nested deeper than Python's JSON parser allows" in task.invalid["args"]
    shown = run_pq("task", APP, str(task_id), "--json", db_url=db_url)
    assert shown.returncode == 0, shown.stderr
    assert "undecodable JSON" in json.loads(shown.stdout)["invalid"]["args"]
