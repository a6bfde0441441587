"""The dashboard's view of one workflow (a chain, group or chord, nested or not): its rows in
step order, as its handle reads them (flow_workflow_tasks.sql), with what a cancel marked.

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

LIVE = (TaskStatus.PENDING, TaskStatus.WAITING, TaskStatus.RUNNING)


class _Reader(Protocol):
    queries: Queries

    def executor(self, connection: Any = None) -> AbstractContextManager[Executor]: ...


@dataclass(frozen=True)
class WorkflowView:
    """The rows of one workflow in step order, and the ids a cancel marked (their flow is
    {"cancelled": true}: they start no later step; see flow_cancel.sql)."""

    id: int
    steps: list[Task]
    marked: frozenset[int]
    stop_requested: frozenset[int]  # running rows whose worker was told to stop them

    @property
    def cancelled(self) -> bool:
        """Whether a cancel reached it (app.cancel_workflow, a handle's cancel(), the CLI)."""
        return bool(self.marked)

    def counts(self) -> dict[str, int]:
        """Steps per status, every status named (0 when none), in TaskStatus order."""
        found = Counter(t.status.value for t in self.steps)
        return {s.value: found[s.value] for s in TaskStatus}

    def cancellable(self) -> bool:
        """Whether a cancel would stop something: a step not yet ended nor already marked."""
        return any(t.status in LIVE and t.id not in self.marked for t in self.steps)


def read_workflow(app: _Reader, workflow_id: int) -> WorkflowView | None:
    """The workflow's rows so far, or None when no row carries that id (never existed, or
    every row of it was deleted by retention or by hand)."""
    with app.executor() as ex:
        rows = app.queries.flow_workflow_tasks(ex, workflow_id)
    if not rows:
        return None
    marked = frozenset(int(r["id"]) for r in rows if _marked(r.get("flow")))
    asked = frozenset(
        int(r["id"])
        for r in rows
        if r.get("status") == TaskStatus.RUNNING.value and r.get("cancel_requested_at")
    )
    return WorkflowView(workflow_id, [Task.from_row(r) for r in rows], marked, asked)


def stopped_by(before: WorkflowView | None, after: WorkflowView | None) -> tuple[int, int]:
    """(steps a cancel ended, running steps it asked to stop) between two reads around it:
    the rows it marked that had not ended nor been marked before (a row written in between
    by a step's link counts too: it was live and the cancel stopped it)."""
    if after is None:
        return 0, 0
    settled = set()
    if before is not None:
        settled = {t.id for t in before.steps if t.status not in LIVE or t.id in before.marked}
    fresh = [t for t in after.steps if t.id in after.marked and t.id not in settled]
    ended = sum(1 for t in fresh if t.status is TaskStatus.CANCELLED)
    running = sum(1 for t in fresh if t.status is TaskStatus.RUNNING)
    return ended, running


def _marked(flow: Any) -> bool:
    # `flow` is whatever the row holds (a row written by hand may hold anything).
    return isinstance(flow, dict) and flow.get("cancelled") is True
