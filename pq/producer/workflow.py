"""Starting a canvas (chain, group, chord, nested or not), and the handles that follow one.

A start writes, in one transaction: the barriers (pq_chords rows) the canvas may need, then
its first rows with one COPY (a chain's first step, a group's or chord's members; for nested
canvases the first row of each part that starts at once). Every later row is written by the
worker, in the statement that records the end of the step before it, so a handle only ever
reads: the rows of its workflow id, each at the step number the canvas gave it when it
started (pq/producer/shape.py).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pq.errors import ConfigurationError, ResultTimeoutError, WorkflowFailedError
from pq.models import Task
from pq.producer.plan import Barrier, encode, plan
from pq.producer.shape import BROKEN, Par, Seq, Shape, State, evaluate, leaves, value

if TYPE_CHECKING:
    from pq.producer.facade import Producer


def _row(
    task_id: int,
    tpl: dict[str, Any],
    *,
    run_at: datetime,
    workflow_id: int,
) -> tuple[Any, ...]:
    flow = tpl.get("flow")
    return (
        task_id,
        tpl["name"],
        tpl["queue"],
        tpl["priority"],
        _status(tpl),
        json.dumps(tpl["args"]),
        json.dumps(tpl["kwargs"]),
        json.dumps(tpl["options"]),
        run_at,
        tpl["max_attempts"],
        workflow_id,
        tpl["step"],
        None if flow is None else json.dumps(flow, default=encode),
        tpl.get("rate_key"),
        tpl.get("concurrency_key"),
        tpl.get("concurrency_limit"),
    )


def _status(tpl: dict[str, Any]) -> str:
    # flow control holds a row back until the flow claim lets it run (docs/workflows.md)
    return "waiting" if tpl.get("rate_key") or tpl.get("concurrency_key") else "pending"


def _create_barriers(app: Producer, ex: Any, workflow_id: int, barriers: list[Barrier]) -> None:
    # before the members, in the same transaction: a member cannot end before its barrier exists
    for barrier in barriers:
        callback = {**barrier.callback, "workflow_id": workflow_id}
        app.queries.flow_chord_create(
            ex, barrier.id, barrier.total, json.dumps(callback, default=encode)
        )


def start_canvas(app: Producer, shape: Shape, *, connection: Any) -> tuple[int, list[int]]:
    """Writes the first rows of a new workflow in one transaction; returns (id, task ids)."""
    if app.interceptor is not None:
        raise ConfigurationError(
            "chain, group and chord need the database: pq.testing's modes do not run them"
        )
    entries, barriers = plan(shape)
    calls = {leaf.step: leaf.call for leaf in leaves(shape)}
    with app.executor(connection) as ex:
        workflow_id, ids, barrier_ids, now = app.queries.flow_reserve(
            ex, len(entries), max(0, len(barriers) - 1)
        )
        for barrier, barrier_id in zip(
            barriers, [workflow_id, *barrier_ids][: len(barriers)], strict=True
        ):
            barrier.id = barrier_id
        _create_barriers(app, ex, workflow_id, barriers)
        rows = [
            _row(i, tpl, run_at=calls[tpl["step"]].first_run_at() or now, workflow_id=workflow_id)
            for i, tpl in zip(ids, entries, strict=True)
        ]
        app.queries.flow_copy(ex, rows)
        due = {f"{'w' if row[4] == 'waiting' else 't'}:{row[2]}" for row in rows if row[8] <= now}
        if due:
            app.queries.flow_notify(ex, sorted(due))
    return workflow_id, ids


class WorkflowHandle:
    """What every canvas handle shares: its workflow id, its shape and the rows so far."""

    kind = "workflow"

    def __init__(self, app: Producer, workflow_id: int, shape: Shape) -> None:
        self.app = app
        self.id = workflow_id
        self.shape = shape

    def __repr__(self) -> str:
        return f"<{type(self).__name__} id={self.id}>"

    def tasks(self) -> list[Task]:
        """Snapshots of the workflow's rows so far, in step order (later links do not exist
        until the step before them completes)."""
        with self.app.executor() as ex:
            rows = self.app.queries.flow_workflow_tasks(ex, self.id)
        return [Task.from_row(r) for r in rows]

    def _value(self, task: Task) -> Any:
        return self.app.codec.decode_value(task.result)

    def _settle(self, shape: Shape, timeout: float | None) -> tuple[State, dict[int, Task]]:
        """Reads the rows until `shape` is done or failed; waits on a row of it that has not
        ended (woken by the done channel, see PQ.wait_for_end)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            rows = {t.workflow_step: t for t in self.tasks() if t.workflow_step is not None}
            state = evaluate(shape, rows)
            if not state.open:
                return state, rows
            if deadline is not None and time.monotonic() >= deadline:
                raise ResultTimeoutError(f"{self.kind} {self.id} did not finish in {timeout}s")
            if state.waiting is not None:
                if self.app.wait_for_end(state.waiting, deadline) is None:
                    raise ResultTimeoutError(
                        f"{self.kind} {self.id} did not finish within {timeout}s"
                    )
            else:  # a link is written with its step's end, so this is a moment's race
                time.sleep(0.05)

    def _result(self, shape: Shape, timeout: float | None) -> tuple[State, Any]:
        state, rows = self._settle(shape, timeout)
        return state, None if state.failed else value(shape, rows, self._value)

    def _whole(self, timeout: float | None) -> Any:
        raise NotImplementedError

    def get(self, timeout: float | None = None, propagate: bool = True) -> Any:
        """Celery's `.get(timeout=..., propagate=...)` of the whole canvas: a chain's or
        chord's result(), a group's results(); with propagate=False the WorkflowFailedError
        is returned, not raised."""
        try:
            return self._whole(timeout)
        except WorkflowFailedError as exc:
            if propagate:
                raise
            return exc


class ChainHandle(WorkflowHandle):
    """Follows a chain: result() is the last step's value (a list when the chain ends in a
    group), or raises naming the failed step."""

    kind = "chain"

    def __init__(self, app: Producer, workflow_id: int, shape: Seq) -> None:
        super().__init__(app, workflow_id, shape)
        self.length = len(shape.parts)

    def __repr__(self) -> str:
        return f"<ChainHandle id={self.id} steps={self.length}>"

    def failed_step(self) -> Task | None:
        """The first row that failed (or was cancelled), if one did."""
        return next((t for t in self.tasks() if t.status in BROKEN), None)

    def _whole(self, timeout: float | None) -> Any:
        return self.result(timeout)

    def result(self, timeout: float | None = None) -> Any:
        state, result = self._result(self.shape, timeout)
        if state.failed:
            raise WorkflowFailedError(
                f"chain {self.id} failed at step {state.at} of {state.of}: {state.reason}; "
                "the steps after it did not run",
                failed=state.failed,
            )
        return result


class GroupHandle(WorkflowHandle):
    """Follows a group: results() lists the members' values in order (a chain member's is
    its last step's), or raises naming every member that failed."""

    kind = "group"

    def __init__(self, app: Producer, workflow_id: int, task_ids: list[int], shape: Shape) -> None:
        super().__init__(app, workflow_id, shape)
        self.task_ids = task_ids  # the rows written at the start

    @property
    def members(self) -> Par:
        assert isinstance(self.shape, Par)
        return self.shape

    def __repr__(self) -> str:
        return f"<{type(self).__name__} id={self.id} members={len(self)}>"

    def __len__(self) -> int:
        return len(self.members.parts)

    def __iter__(self) -> Iterator[int]:
        return iter(self.task_ids)

    def _whole(self, timeout: float | None) -> Any:
        return self.results(timeout)

    def results(self, timeout: float | None = None) -> list[Any]:
        # a failed member does not end the wait: the error names every member that failed
        state, results = self._result(self.members, timeout)
        if state.failed:
            raise WorkflowFailedError(f"{self.kind} {self.id}: {state.reason}", failed=state.failed)
        return list(results)


class ChordHandle(GroupHandle):
    """Follows a chord: result() is the callback's value (the last step's, when the callback
    is a chain), or raises naming the failed members (then the callback never runs)."""

    kind = "chord"

    @property
    def members(self) -> Par:
        assert isinstance(self.shape, Seq) and isinstance(self.shape.parts[0], Par)
        return self.shape.parts[0]

    def _whole(self, timeout: float | None) -> Any:
        return self.result(timeout)

    def result(self, timeout: float | None = None) -> Any:
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            self.results(timeout)
        except WorkflowFailedError as exc:
            raise WorkflowFailedError(
                f"{exc}; the callback did not run", failed=exc.failed
            ) from None
        assert isinstance(self.shape, Seq)
        body = Seq(self.shape.parts[1:])
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        state, result = self._result(body, left)
        if state.failed:
            raise WorkflowFailedError(
                f"chord {self.id}: the callback failed: {state.reason}", failed=state.failed
            )
        return result


__all__ = ["ChainHandle", "ChordHandle", "GroupHandle", "WorkflowHandle", "start_canvas"]
