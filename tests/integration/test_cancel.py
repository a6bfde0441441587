"""Cancelling: a pending task becomes 'cancelled' at once; a running one is killed by its
worker (told by NOTIFY, or by polling when the notice is missed) and recorded 'cancelled'."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from pq import PQ, OutcomeKind, TaskCancelledError, TaskStatus
from taskmods import api
from waiting import wait_until


def _in_background(fn: Callable[[], None]) -> threading.Thread:
    thread = threading.Thread(target=fn, daemon=True)
    thread.start()
    return thread


def test_cancelling_a_pending_task_keeps_its_row_as_cancelled(app: PQ) -> None:
    task_id = app.enqueue(api.echo, 1)

    assert app.cancel(task_id) is True

    task = app.get_task(task_id)
    assert task is not None and task.status is TaskStatus.CANCELLED
    assert task.finished_at is not None
    assert app.run_worker(burst=True) == 0  # nothing left to run
    assert app.cancel(task_id) is False  # already ended: nothing was cancelled


def test_cancel_of_a_finished_or_unknown_task_returns_false(app: PQ) -> None:
    handle = app.task(api.echo).delay(1)
    app.run_worker(burst=True)
    assert handle.cancel() is False
    assert handle.status() is TaskStatus.COMPLETED
    assert app.cancel(999_999) is False


def test_a_running_task_is_killed_and_recorded_cancelled_not_failed(
    db_url: str, tmp_path: Path
) -> None:
    app = PQ(db_url)
    marker = str(tmp_path / "running")
    # retries would make a failure pending again: a cancel must win over them too.
    task = app.task(retries=3)(api.announce_then_sleep)
    handle = task.delay(marker, 600)
    other = PQ(db_url)
    cancelled: list[bool] = []

    def cancel_once_running() -> None:
        wait_until(lambda: Path(marker).exists(), timeout=30)
        cancelled.append(other.cancel(handle.id))

    thread = _in_background(cancel_once_running)
    started = time.monotonic()
    assert app.run_worker(burst=True) == 1  # returns only because the child was killed
    elapsed = time.monotonic() - started
    thread.join()
    other.close()

    assert cancelled == [True]
    ended = handle.snapshot()
    assert ended.status is TaskStatus.CANCELLED
    assert ended.outcome is OutcomeKind.CANCELLED
    assert ended.history[-1].outcome is OutcomeKind.CANCELLED
    assert app.list_failed() == []
    assert elapsed < 60  # generous: the task itself would sleep for 600 s
    app.close()


def test_a_missed_cancel_notice_is_caught_by_polling(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PQ_HEARTBEAT_INTERVAL", "0.2")
    monkeypatch.setenv("PQ_LEASE", "5")
    app = PQ(db_url)
    marker = str(tmp_path / "running")
    task_id = app.enqueue(api.announce_then_sleep, marker, 600)

    def request_cancel_silently() -> None:
        wait_until(lambda: Path(marker).exists(), timeout=30)
        # The request without its NOTIFY, as if the worker's listener had missed it.
        with psycopg.connect(db_url, autocommit=True) as conn:
            conn.execute(
                "UPDATE pq_tasks SET cancel_requested_at = now() WHERE id = %s", (task_id,)
            )

    thread = _in_background(request_cancel_silently)
    assert app.run_worker(burst=True) == 1
    thread.join()

    task = app.get_task(task_id)
    assert task is not None and task.status is TaskStatus.CANCELLED
    app.close()


def test_result_of_a_cancelled_task_raises_task_cancelled(app: PQ) -> None:
    handle = app.task(api.echo).delay(1)
    handle.cancel()
    with pytest.raises(TaskCancelledError, match=f"task {handle.id} "):
        handle.result(timeout=10)
