"""The wake-up notices of a burst of single enqueues: the first carries its own NOTIFY, the
rest are silent, and one trailing notice follows the burst's last enqueue (pq/producer/notify).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from pq import PQ
from taskmods import funcs

WINDOW = 1.0  # long enough that a burst on a busy machine stays within one window
TESTS = Path(__file__).resolve().parent.parent


@pytest.fixture
def listener(db_url: str) -> Iterator[psycopg.Connection[Any]]:
    conn = psycopg.connect(db_url, autocommit=True)
    conn.execute(f'LISTEN "{PQ(db_url).queries.channel}"')
    yield conn
    conn.close()


def _notices(conn: psycopg.Connection[Any], seconds: float) -> list[tuple[float, str]]:
    """(arrival time, payload) of every notice within `seconds`."""
    seen = []
    deadline = time.monotonic() + seconds
    while (remaining := deadline - time.monotonic()) > 0:
        for notice in conn.notifies(timeout=remaining, stop_after=1):
            seen.append((time.monotonic(), notice.payload))
    return seen


def test_a_burst_wakes_the_workers_at_once_and_after_its_last_enqueue(
    db_url: str, listener: psycopg.Connection[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PQ_NOTIFY_WINDOW", str(WINDOW))
    app = PQ(db_url)
    add = app.task(funcs.add)
    for _ in range(2):  # a second burst after a quiet spell behaves like the first
        started = time.monotonic()
        for i in range(5):
            add.delay(i, i)
        last_commit = time.monotonic()
        assert last_commit - started < WINDOW, "the burst outlasted the window: retry"
        heard = _notices(listener, 3 * WINDOW)
        assert [payload for _, payload in heard] == ["t:default", "t:default"]
        first, trailing = heard[0][0], heard[1][0]
        assert first < started + WINDOW / 2  # the first enqueue wakes the workers at once
        assert trailing >= last_commit  # the trailing notice follows the last commit
    assert app.pending_count() == 10
    app.close()


def test_a_process_that_exits_after_silent_enqueues_still_sends_their_notice(
    db_url: str, listener: psycopg.Connection[Any]
) -> None:
    script = (
        "import sys\n"
        "from pq import PQ\n"
        "from taskmods import funcs\n"
        "app = PQ(sys.argv[1])\n"
        "for i in range(3):\n"
        "    app.enqueue(funcs.add, i, i)\n"
        # no app.close(): the interpreter's exit must still send the owed notice
    )
    env = {**os.environ, "PQ_NOTIFY_WINDOW": str(WINDOW), "PYTHONPATH": str(TESTS)}
    started = time.monotonic()
    subprocess.run([sys.executable, "-c", script, db_url], env=env, check=True, timeout=60)
    took = time.monotonic() - started
    heard = [payload for _, payload in _notices(listener, 1.0)]
    assert heard == ["t:default", "t:default"]
    assert took < 30  # it did not hang on the notice thread
