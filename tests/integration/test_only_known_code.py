"""Only known code runs: registered tasks and functions of the modules the app includes.

The attacker here can INSERT into pq's tables (plain SQL, no pq code) but not change the
worker's code: whatever the row names, nothing outside the app's code may run.
"""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest

from pq import PQ, ConfigurationError, TaskStatus
from taskmods import api, funcs, hostile


def _insert_row(db_url: str, name: str, args: list[object]) -> int:
    with psycopg.connect(db_url, autocommit=True) as conn:
        row = conn.execute(
            "INSERT INTO pq_tasks (name, args) VALUES (%s, %s::jsonb) RETURNING id",
            (name, json.dumps(args)),
        ).fetchone()
    assert row is not None
    return int(row[0])


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("os:system", ["touch {proof}"]),
        ("builtins:exec", ["open({proof!r}, 'w').close()"]),
        ("subprocess:call", [["touch", "{proof}"]]),
        ("pathlib:Path.touch", ["{proof}"]),
        # Reached through an included module's imports: defined elsewhere, so refused too.
        ("taskmods.hostile:Path.touch", ["{proof}"]),
        ("taskmods.funcs:os.system", ["touch {proof}"]),
    ],
)
def test_a_row_naming_foreign_code_runs_nothing(
    db_url: str, tmp_path: Path, name: str, args: list[object]
) -> None:
    proof = tmp_path / "pwned"
    formatted = json.loads(json.dumps(args).replace("{proof}", str(proof)))
    formatted = json.loads(json.dumps(formatted).replace("{proof!r}", repr(str(proof))))
    app = PQ(db_url, include=["taskmods"])
    task_id = _insert_row(db_url, name, formatted)
    app.run_worker(burst=True)
    task = app.get_task(task_id)
    app.close()
    assert not proof.exists()
    assert task is not None and task.status is TaskStatus.FAILED
    assert "is not allowed to run" in (task.error or "")
    assert "include" in (task.error or "")


def test_functions_of_included_modules_run_without_registration(db_url: str) -> None:
    app = PQ(db_url, include=["taskmods.funcs"])
    allowed = app.enqueue(funcs.add, 2, 3)
    refused = app.enqueue(api.echo, 1)  # taskmods.api is not included
    registered = app.task(hostile.noop).delay()  # registered tasks run whatever include says
    app.run_worker(burst=True)
    assert app.get_task(allowed).result == 5  # type: ignore[union-attr]
    assert registered.status() is TaskStatus.COMPLETED
    failed = app.get_task(refused)
    assert failed is not None and failed.status is TaskStatus.FAILED
    assert "module 'taskmods.api' is not included" in (failed.error or "")
    app.close()


def test_the_default_include_is_the_package_of_the_module_creating_the_app(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("PQ_INCLUDE", raising=False)
    assert api.app.registry.include == ("taskmods",)  # created in taskmods/api.py
    assert PQ("postgresql://unused.invalid/none").registry.include == (__name__.split(".")[0],)
    monkeypatch.setenv("PQ_INCLUDE", "myapp.jobs, other")
    assert PQ("postgresql://unused.invalid/none").registry.include == ("myapp.jobs", "other")
    with pytest.raises(ConfigurationError, match="not a module or package name"):
        PQ("postgresql://unused.invalid/none", include=["os:system"])


def test_a_schedule_row_naming_foreign_code_enqueues_nothing(db_url: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO pq_periodic (name, args, every_seconds, next_run) "
            "VALUES ('os:system', '[\"true\"]', 1, now() - interval '1 second')"
        )
    app = PQ(db_url, include=["taskmods"])
    app.run_worker(burst=True)
    app.close()
    with psycopg.connect(db_url, autocommit=True) as conn:
        tasks = conn.execute("SELECT count(*) FROM pq_tasks").fetchone()
        orphaned = conn.execute("SELECT orphaned_at IS NOT NULL FROM pq_periodic").fetchone()
    assert tasks == (0,)
    assert orphaned == (True,)
