"""The operator half of PQ's public API: list and inspect tasks and workers, queue
statistics, retry, cancel many, purge, delete, pause and resume queues. `PQ` inherits it.

Long operations work in batches, each its own short transaction with FOR UPDATE SKIP LOCKED,
so retrying or purging 100k rows never holds one giant lock against running workers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from pq.errors import ConfigurationError
from pq.models import Task, TaskStatus
from pq.ops.models import QueueStats, WorkerInfo
from pq.store.db import Executor

if TYPE_CHECKING:
    from pq.store.queries import Queries

Progress = Callable[[int], None]  # told how many rows each finished batch changed

_RETRYABLE = (TaskStatus.FAILED.value, TaskStatus.CANCELLED.value)
_PURGEABLE = {"pending", "completed", "failed", "cancelled"}


def _as_list(value: str | Iterable[str] | None) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value] or None


def _as_since(since: timedelta | datetime | None) -> datetime | None:
    if since is None or isinstance(since, datetime):
        if since is not None and since.tzinfo is None:
            raise ConfigurationError(
                "since= is a naive datetime; pass an aware one (datetime.now(UTC)) or a timedelta"
            )
        return since
    return datetime.now(UTC) - since


def _checked_statuses(status: str | Iterable[str] | None) -> list[str] | None:
    statuses = _as_list(status)
    known = {s.value for s in TaskStatus}
    for value in statuses or []:
        if value not in known:  # a typo is an error, not an empty page
            raise ConfigurationError(
                f"unknown status {value!r}: use one of {', '.join(sorted(known))}"
            )
    return statuses


class OpsMixin:
    """Inspection and steering for operators (mixed into `PQ`)."""

    if TYPE_CHECKING:
        queries: Queries

        def executor(self, connection: Any = None) -> AbstractContextManager[Executor]: ...
        def task_from_row(self, row: dict[str, Any]) -> Task: ...

    # -- reading -----------------------------------------------------------------------------
    def list_tasks(
        self,
        *,
        status: str | Iterable[str] | None = None,
        queue: str | Iterable[str] | None = None,
        name: str | None = None,
        since: timedelta | datetime | None = None,
        before_id: int | None = None,
        limit: int = 50,
    ) -> list[Task]:
        """Tasks newest first (by id). Filters combine with AND; each list means "any of".

        name matches the full task name ('myapp.tasks:send') or its last part ('send').
        since keeps tasks created within that timedelta (or after that datetime). For the
        next page pass before_id=<smallest id of this page>.
        """
        statuses = _checked_statuses(status)
        if limit < 1:
            raise ConfigurationError(f"limit={limit}: it must be at least 1")
        filters = {
            "statuses": statuses,
            "queues": _as_list(queue),
            "name": name or None,
            "since": _as_since(since),
            "before_id": before_id,
            "limit": limit,
        }
        with self.executor() as ex:
            rows = self.queries.task_list(ex, filters)
        return [self.task_from_row(r) for r in rows]

    def count_tasks(
        self,
        *,
        status: str | Iterable[str] | None = None,
        queue: str | Iterable[str] | None = None,
        name: str | None = None,
    ) -> int:
        """How many tasks match these filters (as in list_tasks)."""
        statuses = _checked_statuses(status)
        filters = {"statuses": statuses, "queues": _as_list(queue), "name": name or None}
        with self.executor() as ex:
            return self.queries.task_count(ex, filters)

    def list_workers(
        self, *, include_stopped_since: timedelta | None = timedelta(hours=1)
    ) -> list[WorkerInfo]:
        """Live and lost workers, and those that stopped within include_stopped_since
        (None: none of the stopped ones), newest first."""
        window = include_stopped_since if include_stopped_since is not None else timedelta(0)
        with self.executor() as ex:
            rows = self.queries.worker_list(ex, datetime.now(UTC) - window)
        return [WorkerInfo.model_validate(r) for r in rows]

    def queue_stats(self) -> list[QueueStats]:
        """One entry per (queue, priority) with pending, running or recently ended tasks."""
        with self.executor() as ex:
            rows = self.queries.queue_stats(ex)
        return [QueueStats.model_validate(r) for r in rows]

    def paused_queues(self) -> list[str]:
        with self.executor() as ex:
            return [r["queue"] for r in self.queries.queue_paused_list(ex)]

    # -- steering ----------------------------------------------------------------------------
    def retry(
        self,
        ids: Sequence[int] | None = None,
        *,
        failed: bool = False,
        name: str | None = None,
        queue: str | None = None,
        include_cancelled: bool = False,
        batch_size: int = 1000,
        progress: Progress | None = None,
    ) -> int:
        """Runs failed tasks again (now, keeping their history); returns how many.

        Either ids (failed or cancelled tasks among them are retried; others are left as they
        are) or failed=True with optional name and queue filters (include_cancelled adds the
        cancelled ones). Each task gets one more attempt.
        """
        if ids is None and not failed:
            raise ConfigurationError("retry needs task ids, or failed=True to retry failed tasks")
        statuses = list(_RETRYABLE)
        if ids is None and not include_cancelled:
            statuses = [TaskStatus.FAILED.value]
        params: dict[str, Any] = {
            "statuses": statuses,
            "name": name or None,
            "queue": queue,
            "limit": batch_size,
            "ended_before": None,  # the first batch sets it to the database's now()
        }
        chunks = _chunks(list(ids), batch_size) if ids is not None else None

        def one_batch(ex: Executor, chunk: list[int] | None) -> int:
            changed, params["ended_before"] = self.queries.task_retry(ex, {**params, "ids": chunk})
            return len(changed)

        return self._in_batches(one_batch, chunks, progress)

    def cancel_many(self, ids: Iterable[int]) -> list[int]:
        """Cancels each task (pending ones at once, running ones are stopped); returns the ids
        that were cancelled (the others had already ended or do not exist)."""
        done = []
        for task_id in ids:
            with self.executor() as ex:
                if self.queries.task_cancel(ex, task_id) is not None:
                    done.append(task_id)
        return done

    def purge(
        self,
        queue: str,
        *,
        status: str = "pending",
        batch_size: int = 1000,
        progress: Progress | None = None,
    ) -> int:
        """Deletes the tasks of one queue in one status (default: pending); returns how many.

        Running tasks are never purged: cancel them. A task a worker claims during the purge
        is left to run.
        """
        if status not in _PURGEABLE:
            choices = ", ".join(sorted(_PURGEABLE))
            raise ConfigurationError(
                f"cannot purge status {status!r}: choose one of {choices} (cancel running tasks)"
            )
        return self._in_batches(
            lambda ex, _: self.queries.task_purge(ex, queue, status, batch_size), None, progress
        )

    def delete_task(self, task_id: int) -> bool:
        """Deletes one task and its history; False if it does not exist or is running."""
        with self.executor() as ex:
            return self.queries.task_delete(ex, task_id)

    def pause_queue(self, queue: str) -> bool:
        """Stops every worker of the fleet from claiming tasks of this queue (running ones
        finish), until resume_queue; survives restarts. False if it was already paused."""
        with self.executor() as ex:
            return self.queries.queue_pause(ex, queue)

    def resume_queue(self, queue: str) -> bool:
        """Lets workers claim from a paused queue again; False if it was not paused."""
        with self.executor() as ex:
            return self.queries.queue_resume(ex, queue)

    def _in_batches(
        self,
        one_batch: Callable[[Executor, list[int] | None], int],
        chunks: list[list[int]] | None,
        progress: Progress | None,
    ) -> int:
        """Runs batches, each in its own transaction, until one changes nothing (or, with
        chunks, once per chunk); returns the total changed."""
        total = 0
        for chunk in chunks if chunks is not None else _forever():
            with self.executor() as ex:  # commits at the end of each batch
                changed = one_batch(ex, chunk)
            total += changed
            if progress is not None and changed:
                progress(changed)
            if chunks is None and changed == 0:
                break
        return total


def _chunks(ids: list[int], size: int) -> list[list[int]]:
    return [ids[i : i + size] for i in range(0, len(ids), size)]


def _forever() -> Iterable[None]:
    while True:
        yield None
