"""The dashboard's view of one workflow (a chain, group or chord, nested or not): its rows in
step order, as its handle reads them but without their JSON columns (flow_workflow_steps.sql),
with what a cancel marked.

A workflow has no row of its own: it is the tasks that carry its id. Later steps of a chain
exist only once the step before them completed, so the rows are the workflow so far.
"""

from __future__ import annotations

from collections import Counter
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from pq.models import Task, TaskStatus
from pq.store.db import Executor
from pq.store.queries import Queries

LIVE = frozenset(s.value for s in (TaskStatus.PENDING, TaskStatus.WAITING, TaskStatus.RUNNING))


class _Reader(Protocol):
    queries: Queries

    def executor(self, connection: Any = None) -> AbstractContextManager[Executor]: ...


@dataclass(frozen=True)
class WorkflowView:
    """One workflow: its first `limit` rows in step order as Tasks, and over all its rows the
    steps per status, the ids a cancel marked (their flow is {"cancelled": true}: they start
    no later step; see flow_cancel.sql) and the running ones whose worker was told to stop."""

    id: int
    steps: list[Task]
    total: int
    statuses: dict[int, str]  # id -> status of every row (as stored)
    marked: frozenset[int]
    stop_requested: frozenset[int]

    @property
    def cancelled(self) -> bool:
        """Whether a cancel reached it (app.cancel_workflow, a handle's cancel(), the CLI)."""
        return bool(self.marked)

    @property
    def hidden(self) -> int:
        """How many rows are counted but not in `steps`."""
        return self.total - len(self.steps)

    def counts(self) -> dict[str, int]:
        """Steps per status, every status named (0 when none), in TaskStatus order."""
        found = Counter(self.statuses.values())
        return {s.value: found[s.value] for s in TaskStatus}

    def cancellable(self) -> bool:
        """Whether a cancel would stop something: a step not yet ended nor already marked."""
        return any(s in LIVE and i not in self.marked for i, s in self.statuses.items())


def read_workflow(app: _Reader, workflow_id: int, limit: int | None = None) -> WorkflowView | None:
    """The workflow's rows so far (the first `limit` of them as Tasks, without arguments,
    result or history: a group may have thousands of steps), or None when no row carries that
    id (never existed, or every row of it was deleted)."""
    with app.executor() as ex:
        rows = app.queries.flow_workflow_steps(ex, workflow_id)
    if not rows:
        return None
    statuses = {int(r["id"]): str(r["status"]) for r in rows}
    marked = frozenset(int(r["id"]) for r in rows if r["marked"])
    asked = frozenset(
        int(r["id"])
        for r in rows
        if r["status"] == TaskStatus.RUNNING.value and r["stop_requested"]
    )
    shown = rows if limit is None else rows[:limit]
    steps = [Task.from_row(r) for r in shown]
    return WorkflowView(workflow_id, steps, len(rows), statuses, marked, asked)


def stopped_by(before: WorkflowView | None, after: WorkflowView | None) -> tuple[int, int]:
    """(steps a cancel ended, running steps it asked to stop) between two reads around it:
    the rows it marked that had not ended nor been marked before (a row written in between
    by a step's link counts too: it was live and the cancel stopped it)."""
    if after is None:
        return 0, 0
    settled: set[int] = set()
    if before is not None:
        settled = {i for i, s in before.statuses.items() if s not in LIVE or i in before.marked}
    fresh = [s for i, s in after.statuses.items() if i in after.marked and i not in settled]
    return fresh.count(TaskStatus.CANCELLED.value), fresh.count(TaskStatus.RUNNING.value)
