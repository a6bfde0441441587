"""The tick engine: turns due schedules into ordinary task rows, exactly once per tick.

Every worker runs it (there is no leader to elect or lose). One tick is one transaction:
lock the due schedule row FOR UPDATE SKIP LOCKED, count its live runs, insert the tick's
task (unless overlap control skips it), move next_run past now, commit. Another worker
either skips the locked row or, once the first commits, no longer finds it due; so N
workers enqueue one task per tick, and the task and the schedule's new state commit or
roll back together. A worker that falls behind (or starts after downtime) enqueues one task
for a late schedule, not one per missed tick.

When a worker starts, it also writes the schedules its code declares (`sync_declared`).
"""

from __future__ import annotations

import json
import logging
import time
from datetime import datetime
from typing import TYPE_CHECKING, Any

import psycopg

from pq.errors import PQError
from pq.periodic.spec import PeriodicDefinition, ScheduleSpec, make_spec
from pq.signing import SIGNATURE
from pq.store.db import Executor, PsycopgExecutor, Row
from pq.store.queries import NewTaskRow

if TYPE_CHECKING:
    from pq.runtime import Runtime

log = logging.getLogger("pq.scheduler")

BATCH = 50  # due schedules locked per transaction
# A schedule created, changed or resumed by another process is noticed within this time.
MAX_SLEEP = 2.0
# ... by a worker that LISTENs: it hears such a change ('p:') and looks at once, so between
# due times it looks only this often, a safety net (an idle look is a transaction per worker).
LISTENING_MAX_SLEEP = 30.0
# Waking a hair after the due time, so the database's clock has surely reached it.
LATE_MARGIN = 0.005


def spec_of(row: Row) -> ScheduleSpec:
    """The spec of a stored row, validated again (a hand-edited row may be broken)."""
    return make_spec(row["every_seconds"], row["cron"], row["timezone"])


def definition_params(
    runtime: Runtime, definition: PeriodicDefinition, now: datetime
) -> dict[str, Any]:
    """The named parameters of periodic_declare.sql / periodic_upsert.sql."""
    args_json, kwargs_json = runtime.codec.encode_arguments(definition.args, definition.kwargs)
    options = runtime.codec.signed_options(
        definition.name, args_json, kwargs_json, dict(definition.options)
    )
    spec = definition.spec
    return {
        "name": definition.name,
        "key": definition.key,
        "args": args_json,
        "kwargs": kwargs_json,
        "every_seconds": spec.every_seconds,
        "cron": spec.cron,
        "timezone": spec.timezone,
        "max_concurrent": definition.max_concurrent,
        "active": definition.active,
        "priority": definition.priority,
        "queue": definition.queue,
        "options": json.dumps(options),
        "first_run": spec.first_run(now),
    }


def insert_tick(runtime: Runtime, ex: Executor, row: Row, *, run_at: datetime | None) -> int:
    """Inserts one run of the schedule `row` as an ordinary task; returns the task id.

    The task carries periodic_id (overlap control counts by it) and, in its options, the
    schedule's key and the slot it was enqueued for (None for a manual run-now).
    """
    # A schedule row is a standing order to run its content: with a secret_key it runs only
    # if the key signed it (a forged row would otherwise have its ticks signed by us).
    runtime.codec.verify_row(row["name"], row["args"], row["kwargs"], row["options"])
    options = {k: v for k, v in row["options"].items() if k != SIGNATURE}
    retries = int(options.pop("retries", 0))
    options["periodic"] = {
        "key": row["key"],
        "slot": run_at.isoformat() if run_at is not None else None,
    }
    args_json, kwargs_json = json.dumps(row["args"]), json.dumps(row["kwargs"])
    return runtime.queries.task_insert(
        ex,
        NewTaskRow(
            name=row["name"],
            queue=row["queue"],
            priority=row["priority"],
            args=args_json,
            kwargs=kwargs_json,
            options=runtime.codec.signed_options(row["name"], args_json, kwargs_json, options),
            client_id=None,
            run_at=run_at,
            max_attempts=retries + 1,
            periodic_id=row["id"],
        ),
    )


def declared_definitions(runtime: Runtime) -> list[PeriodicDefinition]:
    """Every schedule the app's code declares with @app.periodic."""
    from pq.periodic.function import PeriodicFunction

    found: list[PeriodicDefinition] = []
    for task_fn in runtime.registry.values():
        if isinstance(task_fn, PeriodicFunction):
            found.extend(task_fn.declarations.values())
    return found


def sync_declared(runtime: Runtime, conn: psycopg.Connection[Any], now: datetime) -> None:
    """Writes the code's declarations and orphans the code-declared rows it no longer has."""
    definitions = declared_definitions(runtime)
    ex = PsycopgExecutor(conn)
    with conn.transaction():
        for definition in definitions:
            runtime.queries.periodic_declare(ex, definition_params(runtime, definition, now))
        orphaned = runtime.queries.periodic_orphan_undeclared(
            ex, [(d.name, d.key) for d in definitions]
        )
    for row in orphaned:
        log.warning(
            "schedule %s (key %r) is no longer declared in the code: it is orphaned and "
            "enqueues nothing; declare it again, or remove it with unschedule()",
            row["name"],
            row["key"],
        )
    if definitions:
        log.info("declared %d periodic schedule(s) from code", len(definitions))


class Scheduler:
    """One worker's tick engine; the worker calls `run_due` when `due()` says so."""

    def __init__(
        self,
        runtime: Runtime,
        queues: list[str] | None = None,
        priorities: list[int] | None = None,
    ) -> None:
        self.runtime = runtime
        # Only schedules whose ticks this worker could run itself (None: all). A worker of
        # other queues would enqueue ticks nobody here takes, and then skip every later tick
        # as "still pending" without saying why; a worker that serves them ticks them instead.
        self.queues = queues
        self.priorities = priorities
        self.queries = runtime.queries
        self.next_check = 0.0  # time.monotonic() of the next look at the schedules
        self._known_code: set[str] = set()

    def due(self) -> bool:
        return time.monotonic() >= self.next_check

    def run_due(self, conn: psycopg.Connection[Any], *, max_sleep: float = MAX_SLEEP) -> int:
        """Takes every due tick (in batches); returns how many tasks it enqueued. The next
        look is at the next due time, or within `max_sleep` seconds."""
        enqueued = 0
        while True:
            taken, locked = self._run_batch(conn)
            enqueued += taken
            if locked < BATCH:
                break
        seconds = self.queries.periodic_next_due(
            PsycopgExecutor(conn), queues=self.queues, priorities=self.priorities
        )
        wait = max_sleep if seconds is None else min(max_sleep, max(seconds, 0.0))
        self.next_check = time.monotonic() + wait + LATE_MARGIN
        return enqueued

    def _run_batch(self, conn: psycopg.Connection[Any]) -> tuple[int, int]:
        ex = PsycopgExecutor(conn)
        enqueued = 0
        # One transaction for the batch: the row locks, the inserted tasks and the advanced
        # next_run values commit together, or (on any error) none of them do.
        with conn.transaction():
            rows = self.queries.periodic_lock_due(
                ex, BATCH, queues=self.queues, priorities=self.priorities
            )
            for row in rows:
                enqueued += self._tick(ex, row)
        return enqueued, len(rows)

    def _tick(self, ex: Executor, row: Row) -> int:
        """Handles one due schedule whose row this transaction holds locked."""
        now: datetime = row["db_now"]
        try:
            spec = spec_of(row)
        except PQError as exc:
            return self._orphan(ex, row, f"its stored schedule is invalid: {exc}")
        refusal = self._code_refusal(row["name"])
        if refusal is not None:
            return self._orphan(ex, row, refusal)
        slot: datetime = row["next_run"]
        next_run = spec.advance(slot, now)
        try:
            self.runtime.codec.verify_row(row["name"], row["args"], row["kwargs"], row["options"])
        except PQError as exc:
            return self._orphan(ex, row, str(exc))
        limit = row["max_concurrent"]
        if limit is not None and self.queries.periodic_count_live(ex, row["id"]) >= limit:
            log.info(
                "schedule %s (key %r): tick of %s skipped, max_concurrent=%d run(s) are still "
                "pending or running",
                row["name"],
                row["key"],
                slot.isoformat(),
                limit,
            )
            self.queries.periodic_advance(ex, row["id"], next_run=next_run, last_run=None)
            return 0
        task_id = insert_tick(self.runtime, ex, row, run_at=slot)
        self.queries.periodic_advance(ex, row["id"], next_run=next_run, last_run=now)
        log.debug("schedule %s (key %r): task %s for %s", row["name"], row["key"], task_id, slot)
        return 1

    def _orphan(self, ex: Executor, row: Row, why: str) -> int:
        log.error(
            "schedule %s (key %r) is orphaned and enqueues nothing: %s. Fix the code or "
            "schedule it again, or remove it with unschedule()",
            row["name"],
            row["key"],
            why,
        )
        self.queries.periodic_mark_orphaned(ex, row["id"])
        return 0

    def _code_refusal(self, name: str) -> str | None:
        """Why the worker cannot run the schedule's function (None: it can; cached then).
        The registry decides, so a row naming code the app does not allow enqueues nothing."""
        if name in self._known_code:
            return None
        try:
            self.runtime.registry.resolve(name)
        except Exception as exc:  # any import failure means its ticks could only fail
            log.debug("cannot resolve %s", name, exc_info=True)
            return f"its function cannot be run ({exc})"
        self._known_code.add(name)
        return None
