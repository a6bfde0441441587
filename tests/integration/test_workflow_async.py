"""Starting chain, group and chord (flat and nested) from `async def` code on the caller's
async connection, for every kind the async enqueue calls take (psycopg AsyncConnection,
asyncpg, SQLAlchemy AsyncConnection/AsyncSession on both drivers): every first row, barrier
and counter commits with the caller's own write and a real worker runs the workflow to its
end, or a rollback leaves no trace of it."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

# The caller connections (every async kind), their transactions and the test's event loop
# are the async enqueue tests' fixtures (same directory).
import test_transactional_async as enqueue_tests
from test_transactional_async import AsyncTx, Loop

from pq import PQ, ConfigurationError, WorkflowCancelledError, chain, chord, group
from taskmods import flowapp

loop = enqueue_tests.loop
tx = enqueue_tests.tx


def _canvases(app: PQ) -> list[Any]:
    """A flat chain, group and chord, and a nested chain with a gathered group (a barrier)
    and a group at its end (written by a link)."""
    add, mul, total = (app.task(f) for f in (flowapp.add, flowapp.mul, flowapp.total))
    return [
        chain(add.s(1, 2), mul.s(10)),
        group(add.s(i, i) for i in range(3)),
        chord([add.s(1, 1), mul.s(2, 3)], total.s()),
        chain(add.s(1, 2), group(mul.s(10), add.s(5)), total.s(), group(add.s(1), add.s(2))),
    ]


EXPECTED = [30, [0, 2, 4], 8, [39, 40]]


async def _start_all(app: PQ, tx: AsyncTx) -> list[Any]:
    await tx.write("order-1")
    return [await canvas.aapply_async(connection=tx.connection) for canvas in _canvases(app)]


def _rows(db_url: str, workflow_ids: list[int]) -> tuple[int, int]:
    """(task rows, barrier rows) of these workflows."""
    with psycopg.connect(db_url) as conn:
        tasks = conn.execute(
            "SELECT count(*) FROM pq_tasks WHERE workflow_id = ANY(%s)", (workflow_ids,)
        ).fetchone()
        barriers = conn.execute("SELECT count(*) FROM pq_chords").fetchone()
    assert tasks is not None and barriers is not None
    return tasks[0], barriers[0]


def _orders(db_url: str) -> list[str]:
    with psycopg.connect(db_url) as conn:
        return [r[0] for r in conn.execute("SELECT ref FROM orders ORDER BY ref")]


def test_a_committed_start_runs_every_workflow_to_its_end(
    app: PQ, tx: AsyncTx, loop: Loop, db_url: str
) -> None:
    handles = loop.run(_start_all(app, tx))
    assert _rows(db_url, [h.id for h in handles]) == (0, 0)  # not visible before the commit
    loop.run(tx.commit())
    # first rows 1 + 3 + 2 + 1; barriers: the chord's, the group followed by total's
    assert _rows(db_url, [h.id for h in handles]) == (7, 2)
    app.run_worker(concurrency=2, burst=True)
    assert [h.get(timeout=30) for h in handles] == EXPECTED
    assert _orders(db_url) == ["order-1"]


def test_a_rolled_back_start_leaves_no_row_barrier_or_wake_up(
    app: PQ, tx: AsyncTx, loop: Loop, db_url: str
) -> None:
    handles = loop.run(_start_all(app, tx))
    loop.run(tx.rollback())
    assert _rows(db_url, [h.id for h in handles]) == (0, 0)
    assert _orders(db_url) == []
    assert app.pending_count() == 0


def test_without_a_connection_the_start_runs_on_the_pool(app: PQ, loop: Loop) -> None:
    add, mul, total = (app.task(f) for f in (flowapp.add, flowapp.mul, flowapp.total))

    async def start() -> list[Any]:
        return [
            await chain(add.s(1, 2), mul.s(10)).adelay(),
            await group(add.s(1, 1), add.s(2, 2)).aapply_async(),
            await chord([add.s(1, 1)], total.s()).adelay(),
        ]

    handles = loop.run(start())
    app.run_worker(burst=True)
    assert [h.get(timeout=30) for h in handles] == [30, [2, 4], 2]

    async def results() -> list[Any]:
        return [await h.aget(timeout=30) for h in handles]

    assert loop.run(results()) == [30, [2, 4], 2]


def test_a_workflow_cancelled_from_async_code_reports_it_when_awaited(app: PQ, loop: Loop) -> None:
    add = app.task(flowapp.add)

    async def start_cancel_and_wait() -> tuple[bool, Any]:
        handle = await chain(add.s(1, 2), add.s(3)).adelay()
        return await handle.acancel(), await handle.aget(timeout=30, propagate=False)

    cancelled, outcome = loop.run(start_cancel_and_wait())
    assert cancelled is True and isinstance(outcome, WorkflowCancelledError)
    assert app.run_worker(burst=True) == 0


def test_a_refused_canvas_writes_nothing_in_the_callers_transaction(
    app: PQ, tx: AsyncTx, loop: Loop, db_url: str
) -> None:
    add, total = app.task(flowapp.add), app.task(flowapp.total)
    refused = chord([chain(add.s(1, 1), group(add.s(1), add.s(2)))], total.s())

    async def start() -> None:
        await tx.write("order-1")
        with pytest.raises(ConfigurationError, match="End that chain with a task"):
            await refused.aapply_async(connection=tx.connection)
        await tx.commit()  # the caller's transaction is still usable

    loop.run(start())
    assert _orders(db_url) == ["order-1"]
    assert app.pending_count() == 0 and _rows(db_url, [1]) == (0, 0)


def test_a_sync_start_refuses_an_async_connection_and_names_the_async_start(
    app: PQ, tx: AsyncTx
) -> None:
    add = app.task(flowapp.add)
    with pytest.raises(ConfigurationError, match=r"await workflow\.aapply_async\(connection="):
        chain(add.s(1, 2), add.s(3)).apply_async(connection=tx.connection)
    assert app.pending_count() == 0


def test_an_async_start_refuses_a_sync_connection_and_names_the_sync_start(
    app: PQ, loop: Loop, db_url: str
) -> None:
    add = app.task(flowapp.add)
    with (
        psycopg.connect(db_url) as conn,
        pytest.raises(ConfigurationError, match=r"workflow\.apply_async\(connection="),
    ):
        loop.run(group(add.s(1, 2), add.s(3, 4)).aapply_async(connection=conn))
    assert app.pending_count() == 0
