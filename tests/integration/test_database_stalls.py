"""Supervision never waits on the database: a caller holding the running row's lock (an
upsert inside its own open transaction), or a statement the server is slow to answer, must
not freeze the worker's loop. (A silent network cut: tests/e2e/test_network_cut.py.)"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime
from pathlib import Path

import psycopg
import pytest

from pq import PQ, OutcomeKind, TaskStatus
from taskmods import cutapp, hostile
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


def test_a_statement_the_server_stalls_times_out_while_max_runtime_is_enforced(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # A lease of 20 s: statement_timeout 5 s, and no lease kill before 19 s.
    monkeypatch.setenv("PQ_HEARTBEAT_INTERVAL", "0.3")
    monkeypatch.setenv("PQ_LEASE", "20")
    app = PQ(db_url)
    overstays = app.task(cutapp.write_pid_then_sleep, name="overstays", max_runtime=2, retries=0)
    pid_file = tmp_path / "pid"
    task_id = app.enqueue(overstays, str(pid_file))
    with psycopg.connect(db_url, autocommit=True) as conn:
        # A server that answers late: every heartbeat takes 30 s (no lock involved).
        conn.execute(
            "CREATE FUNCTION slow_heartbeat() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN PERFORM pg_sleep(30); RETURN NEW; END $$"
        )
        conn.execute(
            "CREATE TRIGGER slow_heartbeat BEFORE UPDATE ON pq_workers "
            "FOR EACH ROW EXECUTE FUNCTION slow_heartbeat()"
        )
    lived: list[float] = []

    def watch_the_child() -> None:
        pid = int(wait_until(lambda: pid_file.exists() and pid_file.read_text(), timeout=60))
        started = pid_file.stat().st_mtime
        wait_until(lambda: not cutapp._alive(pid), timeout=60)
        lived.append(time.time() - started)

    watcher = threading.Thread(target=watch_the_child, daemon=True)
    watcher.start()
    with caplog.at_level(logging.WARNING, logger="pq.worker"):
        assert app.run_worker(burst=True) == 1
    watcher.join(timeout=60)
    # Killed at its max_runtime (2 s), not when the 30 s heartbeat came back.
    assert lived and lived[0] < 10
    task = app.get_task(task_id)
    assert task is not None and task.status is TaskStatus.FAILED
    assert task.history[-1].outcome is OutcomeKind.TIMEOUT
    assert "heartbeating took too long" in caplog.text  # statement_timeout, retried later
    app.close()
