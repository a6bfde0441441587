"""The only module that runs SQL. One function per statement file in pq/store/sql/.

Statements name their tables `{schema}.pq_*`; `Queries` splices in the quoted schema name
once (the name is validated in settings, so this is not an injection point) and leaves out
comment lines (psycopg caches how it parsed a statement only up to 4 KiB).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from functools import cache
from importlib import resources
from typing import Any

from pq.store.db import Executor, PsycopgExecutor, Row
from pq.store.queries_async import AsyncQueries
from pq.store.queries_flow import FlowQueries
from pq.store.queries_migrate import MigrationQueries
from pq.store.queries_worker import WorkerQueries
from pq.store.rows import NewTaskRow, task_copy_text

__all__ = ["NewTaskRow", "Queries"]


@cache
def _statement(name: str) -> str:
    text = resources.files("pq.store").joinpath("sql", f"{name}.sql").read_text(encoding="utf-8")
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))


def migration_text(filename: str) -> str:
    return resources.files("pq.store").joinpath("migrations", filename).read_text(encoding="utf-8")


def migration_files() -> list[str]:
    folder = resources.files("pq.store").joinpath("migrations")
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".sql"))


class Queries(FlowQueries, WorkerQueries, MigrationQueries, AsyncQueries):
    """The statements of one schema (workflow and flow-control ones in queries_flow.py,
    the migration runner's in queries_migrate.py, the enqueues on a caller's async
    connection in queries_async.py)."""

    def __init__(self, schema: str) -> None:
        self.schema = schema
        self.channel = f"pq_{schema}"  # new tasks ("t:<queue>") and cancels ("c:<id>")
        self.channel_done = f"pq_{schema}_done"  # finished tasks ("<id>:<status>")
        self._quoted = f'"{schema}"'
        self._texts: dict[str, str] = {}
        self._claim_texts: dict[tuple[Any, ...], str] = {}  # see claim_text

    def sql(self, name: str) -> str:
        if (text := self._texts.get(name)) is None:
            text = self._texts[name] = _statement(name).replace("{schema}", self._quoted)
        return text

    def render(self, text: str) -> str:
        return text.replace("{schema}", self._quoted)

    # -- tasks -------------------------------------------------------------------------------
    def task_insert(self, ex: Executor, row: NewTaskRow, *, notify: bool = True) -> int:
        """Inserts one task (and, with notify, wakes workers when it is due); returns its id."""
        return ex.fetch_id(self.sql("task_insert"), row.params(self.channel, notify))

    def task_upsert(self, ex: Executor, row: NewTaskRow) -> Row:
        """Returns {id, status, parked}: parked is true when the row was running."""
        return ex.fetch(self.sql("task_upsert"), row.params(self.channel))[0]

    def task_reserve_ids(self, ex: Executor, n: int) -> tuple[list[int], datetime]:
        """n new task ids in ascending order, and the database's clock (the default run_at)."""
        return self.reserved(ex.fetch(self.sql("task_reserve_ids"), {"n": n})[0])

    @staticmethod
    def reserved(row: Row) -> tuple[list[int], datetime]:
        """The ids and clock of a task_reserve_ids row, the ids in ascending order."""
        ids: list[int] = row["ids"]
        ids.sort()  # nextval hands them out ascending; sorting an ordered list is one pass
        return ids, row["now"]

    def task_copy(
        self, ex: Executor, ids: Sequence[int], rows: Iterable[tuple[str, str, str]], **shared: Any
    ) -> None:
        """COPYs one row per id into pq_tasks: (args, kwargs, options) JSON from `rows`, and
        name, queue, priority, run_at, max_attempts from `shared` (the same for all rows;
        see pq.store.rows.task_copy_text)."""
        ex.copy_text(self.sql("task_copy"), task_copy_text(ids, rows, **shared))

    def task_notify_queues(self, ex: Executor, queues: list[str]) -> None:
        ex.fetch(self.sql("task_notify_queues"), {"queues": queues, "channel": self.channel})

    def task_finish(self, ex: Executor, finished: list[dict[str, Any]]) -> dict[int, str]:
        """Records finished attempts; returns {id: new status} of the rows that changed (the
        fence held). 'pending' means a retry or a promoted upsert version; rows inserted by
        workflow links (next chain step, chord callback) are in it too: new work."""
        return self._changed(self._finish_rows(ex, finished))

    def task_get(self, ex: Executor, task_id: int) -> Row | None:
        rows = ex.fetch(self.sql("task_get"), {"id": task_id})
        return rows[0] if rows else None

    def task_get_by_client_id(self, ex: Executor, client_id: str) -> Row | None:
        rows = ex.fetch(self.sql("task_get_by_client_id"), {"client_id": client_id})
        return rows[0] if rows else None

    def task_list_finished(self, ex: Executor, status: str, limit: int) -> list[Row]:
        return ex.fetch(self.sql("task_list_finished"), {"status": status, "limit": limit})

    def task_count_pending(self, ex: Executor) -> int:
        return int(ex.fetch(self.sql("task_count_pending"), {})[0]["n"])

    def task_delete_finished(self, ex: Executor, status: str, before: datetime | None) -> int:
        rows = ex.fetch(self.sql("task_delete_finished"), {"status": status, "before": before})
        return int(rows[0]["n"])

    def task_prune(self, ex: Executor, status: str, keep: float, limit: int) -> int:
        rows = ex.fetch(self.sql("task_prune"), {"status": status, "keep": keep, "limit": limit})
        return int(rows[0]["n"])

    def task_cancel(self, ex: Executor, task_id: int) -> str | None:
        """Returns the status the task had ('pending' or 'running'), or None if not cancellable."""
        rows = ex.fetch(self.sql("task_cancel"), {"id": task_id, "channel": self.channel})
        return str(rows[0]["previous"]) if rows else None

    def task_list_cancel_requested(self, ex: Executor, worker_id: int) -> set[int]:
        rows = ex.fetch(self.sql("task_list_cancel_requested"), {"worker_id": worker_id})
        return {int(r["id"]) for r in rows}

    def listen(self, ex: Executor, channel: str) -> None:
        ex.fetch(self.sql("channel_listen").replace("{channel}", f'"{channel}"'), {})

    def unlisten(self, ex: Executor, channel: str) -> None:
        ex.fetch(self.sql("channel_unlisten").replace("{channel}", f'"{channel}"'), {})

    # -- workers -----------------------------------------------------------------------------
    def worker_register(
        self,
        ex: Executor,
        *,
        host: str,
        pid: int,
        version: str,
        queues: list[str],
        priorities: list[int] | None,
        concurrency: int,
        lease_seconds: float,
    ) -> int:
        rows = ex.fetch(
            self.sql("worker_register"),
            {
                "host": host,
                "pid": pid,
                "version": version,
                "queues": queues,
                "priorities": priorities,
                "concurrency": concurrency,
                "lease_seconds": lease_seconds,
            },
        )
        return int(rows[0]["id"])

    def worker_heartbeat(
        self, ex: Executor, worker_id: int, *, cancels: bool = False
    ) -> tuple[bool, list[str], set[int]]:
        """(alive, the paused queues, our running tasks asked to cancel if `cancels`)."""
        row = ex.fetch(self.sql("worker_heartbeat"), {"id": worker_id, "cancels": cancels})[0]
        cancel_requested = {int(i) for i in row["cancel_requested"]}
        return bool(row["alive"]), [str(q) for q in row["paused"]], cancel_requested

    def worker_deregister(self, ex: Executor, worker_id: int) -> None:
        ex.fetch(self.sql("worker_deregister"), {"id": worker_id})

    # -- periodic schedules ------------------------------------------------------------------
    def periodic_declare(self, ex: Executor, params: dict[str, Any]) -> Row:
        """Writes a schedule declared in code; `params` as in periodic_declare.sql."""
        return ex.fetch(self.sql("periodic_declare"), params)[0]

    def periodic_upsert(self, ex: Executor, params: dict[str, Any]) -> Row:
        """Creates or replaces a schedule through the API; `params` as in periodic_upsert.sql."""
        return ex.fetch(self.sql("periodic_upsert"), {**params, "channel": self.channel})[0]

    def periodic_orphan_undeclared(
        self, ex: Executor, declared: list[tuple[str, str]]
    ) -> list[Row]:
        names = [name for name, _ in declared]
        keys = [key for _, key in declared]
        return ex.fetch(self.sql("periodic_orphan_undeclared"), {"names": names, "keys": keys})

    def periodic_mark_orphaned(self, ex: Executor, periodic_id: int) -> None:
        ex.fetch(self.sql("periodic_mark_orphaned"), {"id": periodic_id})

    def periodic_delete(self, ex: Executor, name: str, key: str) -> bool:
        return bool(ex.fetch(self.sql("periodic_delete"), {"name": name, "key": key}))

    def periodic_set_active(
        self, ex: Executor, name: str, key: str, *, active: bool, resume_run: datetime
    ) -> Row | None:
        rows = ex.fetch(
            self.sql("periodic_set_active"),
            {
                "name": name,
                "key": key,
                "active": active,
                "resume_run": resume_run,
                "channel": self.channel,
            },
        )
        return rows[0] if rows else None

    def periodic_get(self, ex: Executor, name: str, key: str) -> Row | None:
        rows = ex.fetch(self.sql("periodic_get"), {"name": name, "key": key})
        return rows[0] if rows else None

    def periodic_list(self, ex: Executor) -> list[Row]:
        return ex.fetch(self.sql("periodic_list"), {})

    def periodic_lock_due(self, ex: Executor, limit: int, **only: list[Any] | None) -> list[Row]:
        return ex.fetch(self.sql("periodic_lock_due"), {"limit": limit, **only})

    def periodic_count_live(self, ex: Executor, periodic_id: int) -> int:
        rows = ex.fetch(self.sql("periodic_count_live"), {"periodic_id": periodic_id})
        return int(rows[0]["n"])

    def periodic_advance(
        self, ex: Executor, periodic_id: int, *, next_run: datetime, last_run: datetime | None
    ) -> None:
        ex.fetch(
            self.sql("periodic_advance"),
            {"id": periodic_id, "next_run": next_run, "last_run": last_run},
        )

    def periodic_next_due(self, ex: Executor, **only: list[Any] | None) -> float | None:
        """Seconds until the next schedule of `only` (queues=, priorities=: None for all) is due."""
        seconds = ex.fetch(self.sql("periodic_next_due"), only)[0]["seconds"]
        return None if seconds is None else float(seconds)

    # -- operators (pq/ops: inspection, stats, retry, purge, pause) ---------------------------
    def task_list(self, ex: Executor, filters: dict[str, Any]) -> list[Row]:
        """A page of tasks newest first; `filters` as the parameters of task_list.sql."""
        return ex.fetch(self.sql("task_list"), filters)

    def task_count(self, ex: Executor, filters: dict[str, Any]) -> int:
        return int(ex.fetch(self.sql("task_count"), filters)[0]["n"])

    def worker_list(self, ex: Executor, since: datetime) -> list[Row]:
        return ex.fetch(self.sql("worker_list"), {"since": since})

    def queue_stats(self, ex: Executor) -> list[Row]:
        return ex.fetch(self.sql("queue_stats"), {})

    def task_retry(self, ex: Executor, params: dict[str, Any]) -> tuple[list[int], datetime]:
        """One batch of retries (params as in task_retry.sql): the ids it changed, and the
        database's clock (the ended_before of the next batch)."""
        row = ex.fetch(self.sql("task_retry"), {**params, "channel": self.channel})[0]
        return [int(i) for i in row["ids"] or []], row["now"]

    def task_purge(self, ex: Executor, queue: str, status: str, limit: int) -> int:
        rows = ex.fetch(self.sql("task_purge"), {"queue": queue, "status": status, "limit": limit})
        return int(rows[0]["n"])

    def task_delete(self, ex: Executor, task_id: int) -> bool:
        return bool(ex.fetch(self.sql("task_delete"), {"id": task_id}))

    def queue_pause(self, ex: Executor, queue: str) -> bool:
        return bool(ex.fetch(self.sql("queue_pause"), {"queue": queue, "channel": self.channel}))

    def queue_resume(self, ex: Executor, queue: str) -> bool:
        return bool(ex.fetch(self.sql("queue_resume"), {"queue": queue, "channel": self.channel}))

    def queue_paused_list(self, ex: Executor) -> list[Row]:
        return ex.fetch(self.sql("queue_paused_list"), {})

    # -- dashboard charts --------------------------------------------------------------------
    def task_series_finished(self, ex: Executor, since: datetime) -> list[Row]:
        """Rows of {minute, status, n}: tasks that ended in each minute since `since`."""
        return ex.fetch(self.sql("task_series_finished"), {"since": since})

    def task_browse(self, ex: Executor, params: dict[str, Any]) -> list[Row]:
        """One page of the dashboard's task list; `params` as in task_browse.sql."""
        return ex.fetch(self.sql("task_browse"), params)

    def task_browse_end(self, ex: Executor, before_id: int | None, window: int) -> Row | None:
        """{id, created_at} of the last row a walk of `window` rows reaches, if there is one."""
        rows = ex.fetch(self.sql("task_browse_end"), {"before_id": before_id, "window": window})
        return rows[0] if rows else None

    # -- reliability (rescue of lost workers, release after a reconnect) ---------------------
    def worker_prune(self, ex: Executor) -> None:
        ex.fetch(self.sql("worker_prune"), {})

    def task_lock_lost(self, ex: Executor) -> list[Row]:
        """Marks lost workers stopped; locks and returns the running rows they left."""
        return ex.fetch(self.sql("task_lock_lost"), {})

    def task_lock_unowned(self, ex: Executor, worker_id: int, keep: list[int]) -> list[Row]:
        """Locks and returns this worker's running rows other than `keep`."""
        return ex.fetch(self.sql("task_lock_unowned"), {"worker_id": worker_id, "keep": keep})

    @contextmanager
    def transaction(self, ex: PsycopgExecutor) -> Iterator[None]:
        """One transaction around several statements (the locks of one last until its end)."""
        with ex.conn.transaction():
            yield
