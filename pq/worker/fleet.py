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

import psycopg
from psycopg.conninfo import conninfo_to_dict

from pq._version import __version__
from pq.models import OutcomeKind, Priority
from pq.settings import WorkerSettings
from pq.store.db import Executor, PsycopgExecutor, Row
from pq.store.queries import Queries
from pq.worker.attempt import finish_record
from pq.worker.outcome import Outcome, Usage

log = logging.getLogger("pq.maintenance")


def register_worker(queries: Queries, ex: Executor, settings: WorkerSettings) -> int:
    """Adds this process to pq_workers; the id it returns fences every attempt it claims."""
    return queries.worker_register(
        ex,
        host=socket.gethostname(),
        pid=os.getpid(),
        version=__version__,
        queues=list(settings.queues),
        priorities=settings.priority_list,
        concurrency=settings.concurrency,
        lease_seconds=settings.lease,
    )


def _priority_names(priorities: list[int] | None) -> str:
    if not priorities:
        return "all"
    known = {int(p): p.name.lower() for p in Priority}
    return ",".join(known.get(p, str(p)) for p in sorted(priorities, reverse=True))


def _database(url: str) -> str:
    """Where the database is, never the credentials: host (or socket dir), port, name."""
    try:
        parts = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "?"
    host = str(parts.get("host") or "localhost")
    port = f":{parts['port']}" if parts.get("port") else ""
    return f"{host}{port}/{parts.get('dbname') or parts.get('user') or ''}"


def start_line(worker_id: int, settings: WorkerSettings, url: str) -> str:
    """The worker's first log line: who it is, what it takes and where it reads."""
    metrics = f" metrics=:{settings.metrics_port}" if settings.metrics_port else ""
    return (
        f"worker {worker_id} started (pid {os.getpid()} on {socket.gethostname()}): "
        f"queues={','.join(settings.queues)} priorities={_priority_names(settings.priority_list)}"
        f" concurrency={settings.concurrency} database={_database(url)}{metrics}"
    )


def rescue_lost_tasks(queries: Queries, ex: PsycopgExecutor, rescuer: int) -> int:
    """Ends the running attempts of lost workers; returns how many it rescued. Also forgets
    workers that stopped more than a day ago, so pq_workers does not grow forever."""
    with queries.transaction(ex):
        queries.worker_prune(ex)
        rows = queries.task_lock_lost(ex)
        changed = _end_as_lost(
            queries, ex, rows, "worker lost: worker {worker} stopped heartbeating", rescuer
        )
    for row in rows:
        status = changed.get(int(row["id"]))
        then = "will run again" if status == "pending" else f"is now {status}"
        log.warning(
            "task %s (%s): worker %s was lost during attempt %s; the task %s",
            row["id"],
            row["name"],
            row["worker_id"],
            row["attempts"],
            then,
        )
    return len(changed)


def release_unowned_tasks(
    queries: Queries, ex: PsycopgExecutor, worker_id: int, keep: list[int]
) -> int:
    """After a reconnect: ends attempts the database says we run but we do not know of."""
    with queries.transaction(ex):
        rows = queries.task_lock_unowned(ex, worker_id, keep)
        changed = _end_as_lost(
            queries,
            ex,
            rows,
            "worker lost: worker {worker} lost track of this attempt when its database "
            "connection broke",
            worker_id,
        )
    for row in rows:
        log.warning(
            "task %s: claimed just before the connection broke, never started here; it is now %s",
            row["id"],
            changed.get(int(row["id"]), "unchanged"),
        )
    return len(changed)


def _end_as_lost(
    queries: Queries, ex: PsycopgExecutor, rows: list[Row], error: str, rescuer: int
) -> dict[int, str]:
    """Records each locked row's attempt as 'lost' exactly as a worker records any ending:
    the same retry policy (a lost attempt is retried at once, not after a backoff: it was
    not the task's fault), a cancel request wins, a parked upsert version takes over, and
    the fence (attempt, worker id, running) holds."""
    if not rows:
        return {}
    records = []
    for row in rows:
        outcome = Outcome(
            OutcomeKind.LOST, error=error.format(worker=row["worker_id"]), retry_countdown=0
        )
        usage = Usage(
            duration=float(row["running_seconds"] or 0), max_rss_kib=None, cpu_seconds=None
        )
        record = finish_record(row, outcome, usage)
        record["record"]["rescued_by"] = rescuer
        records.append(record)
    return queries.task_finish(ex, records)
