"""The dashboard's task list: keyset pages whose cost is bounded by a window of rows.

`app.list_tasks` walks the primary key until it has `limit` matches, which is quick when
matches are common and a walk of the whole table when they are rare (a status, name or queue
with no recent rows). A page here walks at most `window` rows back from `before_id`, returns
the matches among them, and says where it stopped; the next page goes on from there. So every
page costs the same with a thousand rows or ten million.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from pq.models import Task, TaskStatus
from pq.store.db import Executor
from pq.store.queries import Queries

WINDOW = 10_000


class _Reader(Protocol):
    queries: Queries

    def executor(self, connection: Any = None) -> AbstractContextManager[Executor]: ...


@dataclass(frozen=True)
class TaskPage:
    """Matching tasks, newest first, and where to continue (None: nothing older can match)."""

    tasks: list[Task]
    next_before: int | None


def browse_tasks(
    app: _Reader,
    *,
    status: Iterable[str] | None = None,
    queue: Iterable[str] | None = None,
    name: str | None = None,
    since: datetime | None = None,
    before_id: int | None = None,
    limit: int = 50,
    window: int = WINDOW,
) -> TaskPage:
    """One page of tasks matching every given filter (each list means "any of")."""
    if window < limit:
        raise ValueError(f"window ({window}) must be at least limit ({limit})")
    statuses = [TaskStatus(s).value for s in status] if status else None
    params = {
        "before_id": before_id,
        "window": window,
        "statuses": statuses,
        "queues": list(queue) if queue else None,
        "name": name or None,
        "since": since,
        "limit": limit,
    }
    with app.executor() as ex:
        rows = app.queries.task_browse(ex, params)
        end = None if len(rows) == limit else app.queries.task_browse_end(ex, before_id, window)
    tasks = [Task.from_row(r) for r in rows]
    if len(tasks) == limit:
        next_before: int | None = tasks[-1].id
    elif end is None or (since is not None and end["created_at"] < since):
        next_before = None  # the walk reached the oldest row, or rows older than `since`
    else:
        next_before = int(end["id"])  # the walk stopped at the window: go on below it
    return TaskPage(tasks, next_before)
