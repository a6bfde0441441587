"""Claiming rows the way a worker does, from a test's own connection: tests that record a
step by hand (links, barriers, races with a record) or play a lost worker need a registered
worker id and its claim, without a worker process."""

from __future__ import annotations

from typing import Any

from pq import PQ
from pq.store.db import PsycopgExecutor


def register_worker(
    app: PQ, ex: PsycopgExecutor, *, concurrency: int = 1, lease: float = 30, host: str = "h"
) -> int:
    """A worker row serving the default queue, as `pq worker` registers one; its id."""
    return app.queries.worker_register(
        ex,
        host=host,
        pid=1,
        version="t",
        queues=["default"],
        priorities=None,
        concurrency=concurrency,
        lease_seconds=lease,
    )


def claim(app: PQ, ex: PsycopgExecutor, worker_id: int, limit: int) -> list[dict[str, Any]]:
    """Up to `limit` rows of the default queue, claimed for `worker_id`."""
    return app.queries.task_claim(
        ex, worker_id=worker_id, limit=limit, queues=["default"], priorities=None
    )
