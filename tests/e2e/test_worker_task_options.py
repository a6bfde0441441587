"""The `pq worker` command honours --priority, --queue and the lifecycle hook options."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from pq import PQ, Priority, TaskStatus
from taskmods import api

ROOT = Path(__file__).resolve().parents[2]


def _pq_worker(db_url: str, *options: str, env: dict[str, str] | None = None) -> str:
    command = [str(Path(sys.executable).parent / "pq"), "worker", "taskmods.api:app", "--burst"]
    environment = {
        **os.environ,
        "PQ_DATABASE_URL": db_url,
        "PYTHONPATH": str(ROOT / "tests"),
        **(env or {}),
    }
    done = subprocess.run(
        [*command, *options],
        check=False,
        env=environment,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert done.returncode == 0, done.stderr
    return done.stderr


def test_priority_and_queue_options_select_what_the_worker_takes(app: PQ, db_url: str) -> None:
    high_emails = app.enqueue(api.echo, 1, priority=Priority.HIGH, queue="emails")
    critical_emails = app.enqueue(api.echo, 2, priority="critical", queue="emails")
    normal_emails = app.enqueue(api.echo, 3, queue="emails")
    high_default = app.enqueue(api.echo, 4, priority=Priority.HIGH)

    _pq_worker(db_url, "--priority", "high", "--priority", "CRITICAL", "--queue", "emails")

    status = {i: app.get_task(i).status for i in (high_emails, critical_emails)}  # type: ignore[union-attr]
    assert set(status.values()) == {TaskStatus.COMPLETED}
    assert app.get_task(normal_emails).status is TaskStatus.PENDING  # type: ignore[union-attr]
    assert app.get_task(high_default).status is TaskStatus.PENDING  # type: ignore[union-attr]


def test_hook_options_run_the_hooks_in_the_child(app: PQ, db_url: str, tmp_path: Path) -> None:
    log = tmp_path / "hooks.log"
    task_id = app.enqueue(api.echo, "hi")

    _pq_worker(
        db_url,
        "--pre-execute",
        "taskmods.api:pre_hook",
        "--post-execute",
        "taskmods.api:post_hook",
        env={"PQ_TEST_HOOK_LOG": str(log)},
    )

    lines = log.read_text().splitlines()
    assert lines[0].startswith(f"pre {task_id} pid=")
    assert lines[1] == f"post {task_id} error=None"
    assert app.get_task(task_id).result == "hi"  # type: ignore[union-attr]


def test_a_failing_hook_given_on_the_command_line_fails_the_task_not_the_worker(
    app: PQ, db_url: str
) -> None:
    first = app.enqueue(api.echo, 1)
    second = app.enqueue(api.echo, 2)

    _pq_worker(db_url, "--pre-execute", "taskmods.api:failing_pre_hook")

    for task_id in (first, second):
        task = app.get_task(task_id)
        assert task is not None and task.status is TaskStatus.FAILED
        assert "pre hook exploded" in (task.error or "")
