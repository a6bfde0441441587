"""A task's stored error never shows a connection string's password."""

from __future__ import annotations

from pq import PQ, TaskStatus
from taskmods import hostile


def _error_of(app: PQ, task_id: int) -> str:
    task = app.get_task(task_id)
    assert task is not None and task.status is TaskStatus.FAILED
    assert task.error is not None
    return task.error


def test_a_malformed_url_in_a_task_is_not_stored_with_its_password(app: PQ) -> None:
    task_id = app.enqueue(hostile.enqueue_with_url, "postgresql://bob:s3cret@[::1/db")
    app.run_worker(burst=True)
    error = _error_of(app, task_id)
    assert "database URL is invalid" in error
    assert "s3cret" not in error


def test_a_password_in_a_task_error_is_masked(app: PQ) -> None:
    task_id = app.enqueue(
        hostile.raise_with_text, "cannot reach postgresql://bob:s3cret@h/db password=k3y"
    )
    app.run_worker(burst=True)
    error = _error_of(app, task_id)
    assert "s3cret" not in error and "k3y" not in error
    assert "postgresql://bob:***@h/db" in error
