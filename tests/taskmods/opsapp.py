"""An app for the operator tests: tasks that succeed, fail, or fail once and then succeed."""

from __future__ import annotations

import time
from pathlib import Path

from pq import PQ

app = PQ()


@app.task
def ok(x: int) -> int:
    return x * 2


@app.task(queue="emails")
def send(to: str) -> str:
    return f"sent to {to}"


@app.task
def boom(message: str = "boom") -> None:
    raise ValueError(message)


@app.task
def nap(seconds: float) -> None:
    time.sleep(seconds)


@app.task(retries=1, backoff=1.5)
def fails_once_then_works(path: str) -> int:
    """Fails its first run; the retry (1.5 s later) succeeds."""
    marker = Path(path)
    if not marker.exists():
        marker.write_text("ran")
        raise RuntimeError("first run fails")
    return 7


def fails_until_marker(path: str) -> str:
    """Fails until the file exists: a task an operator fixes, then retries."""
    if not Path(path).exists():
        raise RuntimeError(f"{path} is missing")
    return "fixed"
