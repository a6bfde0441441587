"""A worker's part in the fleet: registering, and rescuing the tasks of lost workers.

A worker is lost when its heartbeat is older than its lease (the parent heartbeats, not the
task code, so a busy or hung task cannot make its worker look dead). Rescue depends only on
the lease, never on a task's max_runtime, so a crashed host's tasks come back within about
lease + one rescue interval.
"""

from __future__ import annotations

import logging
import os
import socket

from pq._version import __version__
from pq.db import Executor
from pq.queries import Queries
from pq.settings import WorkerSettings

log = logging.getLogger("pq.maintenance")


def register_worker(queries: Queries, ex: Executor, settings: WorkerSettings) -> int:
    """Adds this process to pq_workers; the id it returns fences every attempt it claims."""
    priorities = sorted(settings.priorities) if settings.priorities else None
    return queries.worker_register(
        ex,
        host=socket.gethostname(),
        pid=os.getpid(),
        version=__version__,
        queues=list(settings.queues),
        priorities=priorities,
        concurrency=settings.concurrency,
        lease_seconds=settings.lease,
    )


def rescue_lost_tasks(queries: Queries, ex: Executor, rescuer: int) -> int:
    """Ends the running attempts of lost workers; returns how many it rescued."""
    rows = queries.task_rescue_lost(ex, rescuer)
    for row in rows:
        then = "will run again" if row["status"] == "pending" else f"is now {row['status']}"
        log.warning(
            "task %s (%s): worker %s was lost during attempt %s; the task %s",
            row["id"],
            row["name"],
            row["lost_worker"],
            row["attempts"],
            then,
        )
    return len(rows)


def release_unowned_tasks(queries: Queries, ex: Executor, worker_id: int, keep: list[int]) -> int:
    """After a reconnect: ends attempts the database says we run but we do not know of."""
    rows = queries.task_release_unowned(ex, worker_id, keep)
    for row in rows:
        log.warning(
            "task %s: claimed just before the connection broke, never started here; it is now %s",
            row["id"],
            row["status"],
        )
    return len(rows)
