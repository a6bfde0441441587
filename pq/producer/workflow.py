"""Starting a chain, group or chord, and the handles that follow one.

The first rows of a workflow are written in one transaction with one COPY (a chain's first
step; a group's or chord's members, after the chord's counter row). Every later row is written
by the worker, in the statement that records the end of the step before it, so a handle only
ever reads: the rows of its workflow id, in step order.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pq.errors import ConfigurationError, ResultTimeoutError, WorkflowFailedError
from pq.models import Task, TaskStatus

if TYPE_CHECKING:
    from pq.producer.facade import Producer

_FINAL = {TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED}
_BROKEN = {TaskStatus.FAILED, TaskStatus.CANCELLED}


def _row(
    task_id: int,
    tpl: dict[str, Any],
    *,
    run_at: datetime,
    workflow_id: int,
    step: int,
    flow: dict[str, Any] | None,
) -> tuple[Any, ...]:
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
        step,
        None if flow is None else json.dumps(flow),
        tpl.get("rate_key"),
        tpl.get("concurrency_key"),
        tpl.get("concurrency_limit"),
    )


def _status(tpl: dict[str, Any]) -> str:
    # flow control holds a row back until the flow claim lets it run (docs/workflows.md)
    return "waiting" if tpl.get("rate_key") or tpl.get("concurrency_key") else "pending"


def _write(
    app: Producer,
    templates: list[dict[str, Any]],
    run_ats: list[datetime | None],
    flows: list[dict[str, Any] | None],
    *,
    connection: Any,
    before: Callable[[Any, int], None] | None = None,
) -> tuple[int, list[int]]:
    """Writes the first rows of a new workflow in one transaction; returns (id, task ids)."""
    if app.interceptor is not None:
        raise ConfigurationError(
            "chain, group and chord need the database: pq.testing's modes do not run them"
        )
    with app.executor(connection) as ex:
        workflow_id, ids, now = app.queries.flow_reserve(ex, len(templates))
        if before is not None:
            before(ex, workflow_id)
        rows = [
            _row(i, tpl, run_at=at or now, workflow_id=workflow_id, step=n, flow=flow)
            for n, (i, tpl, at, flow) in enumerate(zip(ids, templates, run_ats, flows, strict=True))
        ]
        app.queries.flow_copy(ex, rows)
        due = {f"{'w' if row[4] == 'waiting' else 't'}:{row[2]}" for row in rows if row[8] <= now}
        if due:
            app.queries.flow_notify(ex, sorted(due))
    return workflow_id, ids


def start_chain(
    app: Producer, templates: list[dict[str, Any]], *, run_at: datetime | None, connection: Any
) -> ChainHandle:
    flow = {"next": templates[1:]} if len(templates) > 1 else None
    workflow_id, _ = _write(app, templates[:1], [run_at], [flow], connection=connection)
    return ChainHandle(app, workflow_id, len(templates))


def start_group(
    app: Producer,
    templates: list[dict[str, Any]],
    run_ats: list[datetime | None],
    *,
    connection: Any,
) -> GroupHandle:
    flows: list[dict[str, Any] | None] = [None] * len(templates)
    workflow_id, ids = _write(app, templates, run_ats, flows, connection=connection)
    return GroupHandle(app, workflow_id, ids)


def start_chord(
    app: Producer,
    members: list[dict[str, Any]],
    run_ats: list[datetime | None],
    callback: dict[str, Any],
    callback_steps: int,
    *,
    connection: Any,
) -> ChordHandle:
    flows: list[dict[str, Any] | None] = [{"chord": 0} for _ in members]

    def create_counter(ex: Any, workflow_id: int) -> None:
        # the counter row first, in the same transaction: a member cannot end before it exists
        app.queries.flow_chord_create(ex, workflow_id, len(members), callback)
        for flow in flows:
            assert flow is not None
            flow["chord"] = workflow_id

    workflow_id, ids = _write(
        app, members, run_ats, flows, connection=connection, before=create_counter
    )
    return ChordHandle(app, workflow_id, ids, callback_steps)


class WorkflowHandle:
    """What every canvas handle shares: its workflow id and the rows written so far."""

    kind = "workflow"

    def __init__(self, app: Producer, workflow_id: int) -> None:
        self.app = app
        self.id = workflow_id

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

    def _wait(self, finished: Callable[[list[Task]], bool], timeout: float | None) -> list[Task]:
        """Reads the rows until `finished(rows)` or a row failed; waits on the first row that
        has not ended (woken by the done channel, see PQ.wait_for_end)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            tasks = self.tasks()
            if finished(tasks) or any(t.status in _BROKEN for t in tasks):
                return tasks
            open_rows = [t for t in tasks if t.status not in _FINAL]
            if deadline is not None and time.monotonic() >= deadline:
                raise ResultTimeoutError(f"{self.kind} {self.id} did not finish in {timeout}s")
            if open_rows:
                if self.app.wait_for_end(open_rows[0].id, deadline) is None:
                    raise ResultTimeoutError(
                        f"{self.kind} {self.id} did not finish within {timeout}s"
                    )
            else:  # a link is written with its step's end, so this is a moment's race
                time.sleep(0.05)


def _describe(task: Task) -> str:
    reason = (task.error or "").strip().splitlines()[-1:] or [task.outcome or task.status]
    return f"task {task.id} ({task.name}) {task.status.value}: {reason[0]}"


class ChainHandle(WorkflowHandle):
    """Follows a chain: result() is the last step's value, or raises naming the failed step."""

    kind = "chain"

    def __init__(self, app: Producer, workflow_id: int, length: int) -> None:
        super().__init__(app, workflow_id)
        self.length = length

    def __repr__(self) -> str:
        return f"<ChainHandle id={self.id} steps={self.length}>"

    def failed_step(self) -> Task | None:
        """The step that failed (or was cancelled), if one did."""
        return next((t for t in self.tasks() if t.status in _BROKEN), None)

    def result(self, timeout: float | None = None) -> Any:
        last = self.length - 1

        def finished(tasks: list[Task]) -> bool:
            return bool(tasks) and tasks[-1].workflow_step == last and tasks[-1].status in _FINAL

        tasks = self._wait(finished, timeout)
        broken = [t for t in tasks if t.status in _BROKEN]
        if broken:
            step = broken[0]
            raise WorkflowFailedError(
                f"chain {self.id} failed at step {(step.workflow_step or 0) + 1} of "
                f"{self.length}: {_describe(step)}; the steps after it did not run",
                failed=broken,
            )
        return self._value(tasks[-1])


class GroupHandle(WorkflowHandle):
    """Follows a group: results() lists the members' values in order, or raises naming every
    member that failed."""

    kind = "group"

    def __init__(self, app: Producer, workflow_id: int, task_ids: list[int]) -> None:
        super().__init__(app, workflow_id)
        self.task_ids = task_ids

    def __repr__(self) -> str:
        return f"<GroupHandle id={self.id} members={len(self.task_ids)}>"

    def __len__(self) -> int:
        return len(self.task_ids)

    def __iter__(self) -> Iterator[int]:
        return iter(self.task_ids)

    def _members(self, timeout: float | None) -> list[Task]:
        n = len(self.task_ids)
        # a failed member does not end the wait: the error names every member that failed
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            members = self.tasks()[:n]
            open_rows = [t for t in members if t.status not in _FINAL]
            if not open_rows:
                return members
            if self.app.wait_for_end(open_rows[0].id, deadline) is None:
                raise ResultTimeoutError(f"{self.kind} {self.id} did not finish in {timeout}s")

    def results(self, timeout: float | None = None) -> list[Any]:
        members = self._members(timeout)
        broken = [t for t in members if t.status in _BROKEN]
        if broken:
            raise WorkflowFailedError(
                f"{self.kind} {self.id}: {len(broken)} of {len(members)} member(s) failed: "
                + "; ".join(f"member {t.workflow_step}: {_describe(t)}" for t in broken),
                failed=broken,
            )
        return [self._value(t) for t in members]


class ChordHandle(GroupHandle):
    """Follows a chord: result() is the callback's value (the last step's, when the callback
    is a chain), or raises naming the failed members (then the callback never runs)."""

    kind = "chord"

    def __init__(
        self, app: Producer, workflow_id: int, task_ids: list[int], callback_steps: int
    ) -> None:
        super().__init__(app, workflow_id, task_ids)
        self.callback_steps = callback_steps

    def __repr__(self) -> str:
        return f"<ChordHandle id={self.id} members={len(self.task_ids)}>"

    def result(self, timeout: float | None = None) -> Any:
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            self.results(timeout)
        except WorkflowFailedError as exc:
            raise WorkflowFailedError(
                f"{exc}; the callback did not run", failed=exc.failed
            ) from None
        last = len(self.task_ids) + self.callback_steps - 1

        def finished(tasks: list[Task]) -> bool:
            return tasks[-1].workflow_step == last and tasks[-1].status in _FINAL

        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        tasks = self._wait(finished, left)
        broken = [t for t in tasks if t.status in _BROKEN]
        if broken:
            raise WorkflowFailedError(
                f"chord {self.id}: the callback failed: {_describe(broken[0])}", failed=broken
            )
        return self._value(tasks[-1])
