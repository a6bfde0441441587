"""Supervision never waits on the database: a caller holding the running row's lock (an
upsert inside its own open transaction) must not freeze the worker's loop."""

from __future__ import annotations

import threading
from datetime import datetime
from pathlib import Path

import psycopg
import pytest

from pq import PQ, TaskStatus
from taskmods import hostile
from waiting import wait_until


def _heartbeat(db_url: str) -> datetime | None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        row = conn.execute("SELECT max(last_heartbeat_at) FROM pq_workers").fetchone()
    return row[0] if row else None


def test_a_row_lock_held_by_a_caller_does_not_stop_heartbeats(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PQ_HEARTBEAT_INTERVAL", "0.3")
    monkeypatch.setenv("PQ_LEASE", "3")
    app = PQ(db_url)
    marker, release = tmp_path / "running", tmp_path / "release"
    task_id = app.enqueue(hostile.hold_until_released, str(marker), str(release))
    heartbeats: list[bool] = []

    def hold_the_row_lock() -> None:
        wait_until(marker.exists, timeout=60)
        with psycopg.connect(db_url) as conn:  # one transaction, held open
            conn.execute("SELECT 1 FROM pq_tasks WHERE id = %s FOR UPDATE", (task_id,))
            release.touch()  # the task ends now; recording it needs this lock
            first = wait_until(lambda: _heartbeat(db_url), timeout=10)
            # Longer than the lease: a frozen loop would be declared lost by now.
            try:
                wait_until(lambda: (_heartbeat(db_url) - first).total_seconds() > 4, timeout=15)  # type: ignore[operator]
                heartbeats.append(True)
            except AssertionError:
                heartbeats.append(False)

    thread = threading.Thread(target=hold_the_row_lock, daemon=True)
    thread.start()
    assert app.run_worker(burst=True) == 1
    thread.join(timeout=60)
    assert heartbeats == [True]  # the worker kept heartbeating while the lock was held
    task = app.get_task(task_id)
    assert task is not None and task.status is TaskStatus.COMPLETED  # recorded once released
    assert len(task.history) == 1  # never declared lost, rescued and run again
    app.close()
