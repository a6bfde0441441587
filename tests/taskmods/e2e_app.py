"""The app that e2e tests hand to the real `pq worker` command (reads PQ_DATABASE_URL)."""

from __future__ import annotations

from pq import PQ, Priority

app = PQ()


@app.task(priority=Priority.HIGH)
def multiply(a: int, b: int) -> int:
    return a * b


@app.task
def crash() -> None:
    import ctypes

    ctypes.string_at(0)
