"""Rows claimed ahead of the free slots: held as running for the worker, handed back when it
stops or their queue is paused, ended as cancelled when cancelled before they start."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable
from pathlib import Path

import psycopg

from pq import PQ, OutcomeKind, TaskStatus
from taskmods import api
from waiting import wait_until


def _status(app: PQ, task_id: int) -> TaskStatus:
    task = app.get_task(task_id)
    assert task is not None
    return task.status


def _run_slow_then(db_url: str, tmp_path: Path, meanwhile: Callable[[PQ, list[int]], None]):
    """A worker (concurrency 1, prefetch 2) runs a slow task and holds two quick ones ahead;
    `meanwhile(other, [quick ids])` runs once the slow one started, then the worker is stopped."""
    app = PQ(db_url)
    marker = tmp_path / "running"
    app.enqueue(api.announce_then_sleep, str(marker), 600)
    quick = [app.enqueue(api.echo, n) for n in range(2)]
    other = PQ(db_url)

    def act_then_stop() -> None:
        wait_until(marker.exists, timeout=60)
        wait_until(lambda: all(_status(other, i) is TaskStatus.RUNNING for i in quick), 30)
        meanwhile(other, quick)
        os.kill(os.getpid(), signal.SIGTERM)

    thread = threading.Thread(target=act_then_stop, daemon=True)
    thread.start()
    app.run_worker(concurrency=1, prefetch=2, drain_timeout=0.5)
    thread.join()
    app.close()
    return other, quick


def test_rows_claimed_ahead_are_handed_back_on_shutdown_with_their_attempt(
    db_url: str, tmp_path: Path
) -> None:
    other, quick = _run_slow_then(db_url, tmp_path, lambda _app, _ids: None)
    for task_id in quick:
        task = other.get_task(task_id)
        assert task is not None and task.status is TaskStatus.PENDING
        assert task.attempts == 0 and task.worker_id is None and task.history == []
    assert other.run_worker(burst=True) == 2  # anyone may take them now
    for task_id in quick:
        task = other.get_task(task_id)
        assert task is not None and task.status is TaskStatus.COMPLETED and task.attempts == 1
    other.close()


def test_a_row_cancelled_while_held_ends_cancelled_without_running(
    db_url: str, tmp_path: Path
) -> None:
    other, quick = _run_slow_then(db_url, tmp_path, lambda app, ids: app.cancel(ids[0]))
    cancelled = other.get_task(quick[0])
    assert cancelled is not None and cancelled.status is TaskStatus.CANCELLED
    assert cancelled.outcome is OutcomeKind.CANCELLED and cancelled.result is None
    assert _status(other, quick[1]) is TaskStatus.PENDING  # handed back at the stop
    other.close()


def test_rows_held_for_a_queue_that_gets_paused_are_handed_back(
    db_url: str, tmp_path: Path
) -> None:
    def pause_and_see_them_handed_back(app: PQ, ids: list[int]) -> None:
        app.pause_queue("default")
        wait_until(lambda: all(_status(app, i) is TaskStatus.PENDING for i in ids), 30)

    other, quick = _run_slow_then(db_url, tmp_path, pause_and_see_them_handed_back)
    assert [_status(other, i) for i in quick] == [TaskStatus.PENDING] * 2
    other.close()


def test_a_held_row_whose_cancel_notice_never_arrived_ends_cancelled_at_the_stop(
    db_url: str, tmp_path: Path
) -> None:
    # The cancel is recorded on the row but its notice is lost (the worker stops first):
    # handing the row back must not make it pending, or the next worker would run it.
    def record_cancel_without_notice(app: PQ, ids: list[int]) -> None:
        with psycopg.connect(db_url, autocommit=True) as conn:
            table = f"{app.settings.schema}.pq_tasks"
            conn.execute(f"UPDATE {table} SET cancel_requested_at = now() WHERE id = %s", ids[:1])

    other, quick = _run_slow_then(db_url, tmp_path, record_cancel_without_notice)
    cancelled = other.get_task(quick[0])
    assert cancelled is not None and cancelled.status is TaskStatus.CANCELLED
    assert cancelled.outcome is OutcomeKind.CANCELLED and cancelled.attempts == 0
    assert _status(other, quick[1]) is TaskStatus.PENDING
    assert other.run_worker(burst=True) == 1  # only the other one is left to run
    assert _status(other, quick[0]) is TaskStatus.CANCELLED
    other.close()
