"""The handles that follow a started canvas (chain, group, chord, nested or not).

A start (pq/producer/start.py) writes the first rows; every later row is written by the
worker, in the statement that records the end of the step before it, so a handle only ever
reads: the rows of its workflow id, each at the step number the canvas gave it when it
started (pq/producer/shape.py).
"""

from __future__ import annotations

import asyncio
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from pq.errors import ResultTimeoutError, WorkflowCancelledError, WorkflowFailedError
from pq.models import Task, TaskStatus
from pq.producer.shape import BROKEN, Par, Seq, Shape, State, evaluate, value

if TYPE_CHECKING:
    from pq.producer.facade import Producer

LIVE = {TaskStatus.PENDING, TaskStatus.WAITING, TaskStatus.RUNNING}
_LIVE = {s.value for s in LIVE}  # as the rows spell them


# A waiting handle looks again at most once per this many times the cost of its last look.
_PACE = 5


def _stamp(row: dict[str, Any]) -> tuple[str, int]:
    """What says a row changed for a waiting handle: its status and attempt."""
    return str(row["status"]), int(row["attempts"])


class WorkflowHandle(ABC):
    """What every canvas handle shares: its workflow id, its shape and the rows so far;
    each kind says what its whole result is (`_whole`, behind get())."""

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

    def cancel(self, *, timeout: float = 30.0) -> bool:
        """Cancels the whole workflow, like Celery's revoke of a result or GroupResult:
        every task of it not yet finished is cancelled (a pending one never runs, a running
        one is stopped as `TaskHandle.cancel` stops it) and no later step starts, even from
        a step that ends while the cancel is under way. True if a task was stopped; False
        if the workflow had already ended. Then result() and get() raise
        WorkflowCancelledError, unless the workflow finished anyway. Raises
        WorkflowCancelStalledError if another transaction keeps some of its rows locked for
        `timeout` seconds (see PQ.cancel_workflow)."""
        return self.app.cancel_workflow(self.id, timeout=timeout)

    async def acancel(self, *, timeout: float = 30.0) -> bool:
        """cancel() for `async def` code: runs in a worker thread, off the event loop."""
        return await asyncio.to_thread(self.cancel, timeout=timeout)

    def cancelled(self) -> bool:
        """Whether the workflow was cancelled (cancel(), `pq cancel --workflow`)."""
        with self.app.executor() as ex:  # (statuses and marks only: no row decoded whole)
            return any(r["marked"] for r in self.app.queries.flow_workflow_steps(ex, self.id))

    def _read_since(
        self, known: dict[int, tuple[tuple[str, int], Task]]
    ) -> tuple[list[Task], bool]:
        """The rows, and whether a cancel marked them (flow {"cancelled": true}, see
        flow_cancel.sql), for a wait that reads again on every wake-up. It reads the statuses of
        all rows (flow_workflow_steps.sql, without their JSON columns) and builds a Task
        again only for a row whose (status, attempt) changed since the last read (`known`,
        kept by the caller); of those, the ended ones are read whole (flow_workflow_rows.sql:
        arguments, result, error), the live ones need only their status. A completed row
        never changes again, so its result is read and decoded once. Without this, a wait
        on a group of N members read and decoded all N rows at each of its wake-ups."""
        with self.app.executor() as ex:
            steps = self.app.queries.flow_workflow_steps(ex, self.id)
            fresh = [r for r in steps if (old := known.get(r["id"])) is None or old[0] != _stamp(r)]
            wanted = [r["id"] for r in fresh if r["status"] not in _LIVE]
            whole = {
                r["id"]: r
                for r in (
                    self.app.queries.flow_workflow_rows(ex, self.id, wanted) if wanted else []
                )
            }
        for row in fresh:
            # (a row that ended between the two reads is read whole on the next wake-up)
            known[row["id"]] = (_stamp(row), Task.from_row(whole.get(row["id"], row)))
        return [known[r["id"]][1] for r in steps], any(r["marked"] for r in steps)

    def _value(self, task: Task) -> Any:
        return self.app.codec.decode_value(task.result)

    def _settle(self, shape: Shape, timeout: float | None) -> tuple[State, dict[int, Task]]:
        """Reads the rows until `shape` is done or failed, or its workflow was cancelled and
        nothing of it runs any more; waits on a row that has not ended (woken by the done
        channel, see PQ.wait_for_end)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        known: dict[int, tuple[tuple[str, int], Task]] = {}
        while True:
            began = time.monotonic()
            tasks, cancelled = self._read_since(known)
            rows = {t.workflow_step: t for t in tasks if t.workflow_step is not None}
            state = evaluate(shape, rows)
            # A look costs in proportion to the workflow's size; the next one waits until
            # PACE times this one's cost has passed, so waiting on a group of thousands of
            # members (woken by each end it waits for) takes a bounded share of a CPU, and a
            # small workflow (a look of a millisecond) is not held back.
            next_look = began + _PACE * (time.monotonic() - began)
            live = [t.id for t in tasks if t.status in LIVE]
            if not state.open or (cancelled and not live):
                if cancelled and (state.open or state.failed):
                    raise self._cancelled(tasks)
                return state, rows
            if deadline is not None and time.monotonic() >= deadline:
                raise ResultTimeoutError(f"{self.kind} {self.id} did not finish in {timeout}s")
            waiting = live[0] if cancelled else state.waiting  # a stopped task's end
            if waiting is not None:
                if self.app.wait_for_end(waiting, deadline) is None:
                    raise ResultTimeoutError(
                        f"{self.kind} {self.id} did not finish within {timeout}s"
                    )
            else:  # a link is written with its step's end, so this is a moment's race
                time.sleep(0.05)
            if (pause := next_look - time.monotonic()) > 0:
                if deadline is not None:
                    pause = max(0.0, min(pause, deadline - time.monotonic()))
                time.sleep(pause)

    def _cancelled(self, tasks: list[Task]) -> WorkflowCancelledError:
        stopped = [t for t in tasks if t.status is TaskStatus.CANCELLED]
        named = ", ".join(f"task {t.id} ({t.name})" for t in stopped[:5])
        more = f" and {len(stopped) - 5} more" if len(stopped) > 5 else ""
        return WorkflowCancelledError(
            f"{self.kind} {self.id} was cancelled before it finished"
            + (f": {len(stopped)} task(s) cancelled: {named}{more}" if stopped else "")
            + "; no later step was started",
            failed=stopped or tasks[-1:],
        )

    def _result(self, shape: Shape, timeout: float | None) -> tuple[State, Any]:
        state, rows = self._settle(shape, timeout)
        return state, None if state.failed else value(shape, rows, self._value)

    @abstractmethod
    def _whole(self, timeout: float | None) -> Any:
        """The canvas's result as Celery's get() gives it."""

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

    async def aget(self, timeout: float | None = None, propagate: bool = True) -> Any:
        """get() for `async def` code: the wait runs in a worker thread, off the event loop."""
        return await asyncio.to_thread(self.get, timeout, propagate)


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
        except WorkflowCancelledError:
            raise
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


__all__ = ["ChainHandle", "ChordHandle", "GroupHandle", "WorkflowHandle"]
