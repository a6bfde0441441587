"""A task that enqueues another from inside its child (the pool must not cross the fork)."""

from __future__ import annotations

from pq import PQ
from taskmods import funcs

app: PQ | None = None  # set by the test before the worker forks


def enqueue_follow_up(n: int) -> None:
    assert app is not None
    app.enqueue(funcs.add, n, 1)
