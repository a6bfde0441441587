"""Notifications are untrusted input: any role that can connect may NOTIFY pq's channel."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import psycopg
import pytest

from pq import PQ, TaskStatus
from taskmods import hostile
from waiting import wait_until

GARBAGE = ["c:x", "c:", "c:-1", "c:99999999999999999999999999", ":", "zzz", "p:1", "q", "t"]


def _notify(db_url: str, channel: str, payloads: list[str]) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        for payload in payloads:
            conn.execute("SELECT pg_notify(%s, %s)", (channel, payload))


def test_malformed_and_forged_notifications_change_nothing(
    app: PQ, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="pq.worker")
    marker, release = tmp_path / "running", tmp_path / "release"
    task_id = app.enqueue(hostile.hold_until_released, str(marker), str(release))
    ignored = [f"a notification pq does not send: {p!r}" for p in GARBAGE if p[0] not in "tq"]

    def attack() -> None:
        wait_until(marker.exists, timeout=60)
        # First a forged cancel of the running task: no row asks for it, so it must not be
        # killed. Notices arrive in order, so once the last garbage is logged it was handled.
        _notify(app.database_url, app.queries.channel, [f"c:{task_id}", *GARBAGE])
        wait_until(lambda: all(line in caplog.text for line in ignored), timeout=30)
        release.touch()

    thread = threading.Thread(target=attack, daemon=True)
    thread.start()
    assert app.run_worker(burst=True) == 1  # the worker survived every payload
    thread.join(timeout=30)

    task = app.get_task(task_id)
    assert task is not None and task.status is TaskStatus.COMPLETED
    assert task.result == "released"
