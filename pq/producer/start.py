"""Starting a canvas (chain, group, chord, nested or not): its first rows and its barriers.

A start writes, in one transaction: the barriers (pq_chords rows) the canvas may need, then
its first rows with one COPY (a chain's first step, a group's or chord's members; for nested
canvases the first row of each part that starts at once), then the wake-up. Every later row
is written by the worker, in the statement that records the end of the step before it.

The start is one sequence of statements (`_steps`, a generator: it plans, then yields each
statement's name and parameters and receives its result), driven by `start_canvas` on a sync
executor (queries.flow_*) or by `astart_canvas` on a caller's async connection
(queries.aflow_*, the same SQL files), so both write the same rows in the same order.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Generator
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pq.errors import ConfigurationError
from pq.producer.plan import encode, plan
from pq.producer.shape import Shape, leaves

if TYPE_CHECKING:
    from pq.producer.facade import Producer

# (name of the queries method without its `a` prefix, its arguments after the executor)
Statement = tuple[str, tuple[Any, ...]]
Steps = Generator[Statement, Any, tuple[int, list[int]]]


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


def _steps(app: Producer, shape: Shape) -> Steps:
    """The statements of one start, in order; planning (and its errors) comes before the
    first, so a refused canvas writes nothing."""
    if app.interceptor is not None:
        raise ConfigurationError(
            "chain, group and chord need the database: pq.testing's modes do not run them"
        )
    entries, barriers = plan(shape)
    calls = {leaf.step: leaf.call for leaf in leaves(shape)}
    reserved = yield "flow_reserve", (len(entries), max(0, len(barriers) - 1))
    workflow_id, ids, barrier_ids, now = reserved
    for barrier, barrier_id in zip(
        barriers, [workflow_id, *barrier_ids][: len(barriers)], strict=True
    ):
        barrier.id = barrier_id
    # before the members, in the same transaction: a member cannot end before its barrier exists
    for barrier in barriers:
        callback = {**barrier.callback, "workflow_id": workflow_id}
        yield "flow_chord_create", (barrier.id, barrier.total, json.dumps(callback, default=encode))
    rows = [
        _row(i, tpl, run_at=calls[tpl["step"]].first_run_at() or now, workflow_id=workflow_id)
        for i, tpl in zip(ids, entries, strict=True)
    ]
    yield "flow_copy", (rows,)
    due = {f"{'w' if row[4] == 'waiting' else 't'}:{row[2]}" for row in rows if row[8] <= now}
    if due:
        yield "flow_notify", (sorted(due),)
    return workflow_id, ids


def start_canvas(app: Producer, shape: Shape, *, connection: Any) -> tuple[int, list[int]]:
    """Writes the first rows of a new workflow in one transaction (the caller's, with a sync
    `connection`); returns (workflow id, task ids)."""
    steps = _steps(app, shape)
    statement = next(steps)  # plans: a refused canvas fails before any connection is used
    with app.executor(connection) as ex:
        try:
            while True:
                name, args = statement
                statement = steps.send(getattr(app.queries, name)(ex, *args))
        except StopIteration as stop:
            started: tuple[int, list[int]] = stop.value
            return started


async def astart_canvas(app: Producer, shape: Shape, *, connection: Any) -> tuple[int, list[int]]:
    """start_canvas for `async def` code: with an async `connection` (pq.store.db_async) the
    same statements run in the caller's transaction on the event loop; without one the sync
    start runs on the app's pool in a worker thread."""
    if connection is None:
        call = functools.partial(start_canvas, app, shape, connection=None)
        return await asyncio.to_thread(call)
    from pq.store.db_async import async_executor_for  # drivers imported only when used

    steps = _steps(app, shape)
    statement = next(steps)
    ex = await async_executor_for(connection)
    async with ex.atomic():
        try:
            while True:
                name, args = statement
                statement = steps.send(await getattr(app.queries, f"a{name}")(ex, *args))
        except StopIteration as stop:
            started: tuple[int, list[int]] = stop.value
            return started


__all__ = ["astart_canvas", "start_canvas"]
