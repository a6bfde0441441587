"""The flow claim on a real Postgres: rate-limited and key-limited tasks wait ('waiting',
never dropped) until their limit allows, and the limit is counted for every claimer."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from claims import register_worker

from pq import PQ, ConfigurationError, TaskStatus
from pq.store.db import PsycopgExecutor
from pq.worker.flow import FlowClaim, claim_flow
from taskmods import flowapp


@contextmanager
def claimer(app: PQ) -> Iterator[tuple[PsycopgExecutor, int]]:
    """A connection like a worker's (autocommit) and a registered worker id."""
    with app.connect() as conn:
        conn.autocommit = True
        ex = PsycopgExecutor(conn)
        worker_id = register_worker(app, ex, concurrency=8)
        yield ex, worker_id


def claim(app: PQ, ex: PsycopgExecutor, worker_id: int, free: int = 8) -> FlowClaim:
    return claim_flow(
        app.queries, ex, worker_id=worker_id, free=free, queues=["default"], priorities=None
    )


def test_tasks_without_limits_stay_on_the_ordinary_claim(app: PQ) -> None:
    handle = app.task(flowapp.noop).delay()
    assert handle.status() is TaskStatus.PENDING
    with claimer(app) as (ex, me):
        assert claim(app, ex, me).rows == []


def test_a_rate_limit_lets_that_many_start_per_window_for_every_claimer(app: PQ) -> None:
    noop = app.task(flowapp.noop, rate_limit="3/m")
    handles = [noop.delay() for _ in range(5)]
    assert {h.status() for h in handles} == {TaskStatus.WAITING}
    with claimer(app) as (first, me), claimer(app) as (second, other):
        taken = claim(app, first, me)
        assert len(taken.rows) == 3
        blocked = claim(app, second, other)  # another worker: the same window
        assert blocked.rows == [] and blocked.waiting
        assert blocked.wake_in is not None and 55 < blocked.wake_in <= 60
    assert sorted(h.status() for h in handles).count(TaskStatus.WAITING) == 2


def test_a_key_runs_at_most_its_limit_at_once_and_frees_its_place_when_a_task_ends(
    app: PQ,
) -> None:
    nap = app.task(flowapp.nap, max_concurrency_per_key=1)
    k1 = [nap.apply_async((0,), concurrency_key="k1") for _ in range(3)]
    k2 = nap.apply_async((0,), concurrency_key="k2")
    with claimer(app) as (first, me), claimer(app) as (second, other):
        (row,) = claim(app, first, me, free=1).rows
        assert row["id"] == k1[0].id  # oldest first
        taken = claim(app, second, other).rows
        assert [r["id"] for r in taken] == [k2.id]  # k1 is busy; k2 is not
        record = {
            "id": row["id"], "attempt": 1, "worker_id": me, "status": "completed",
            "outcome": "success", "error": None, "result": None, "retry_at": None,
            "record": {"attempt": 1, "outcome": "success"},
        }  # fmt: skip
        app.queries.task_finish(first, [record])
        assert [r["id"] for r in claim(app, second, other).rows] == [k1[1].id]


def test_a_concurrency_limit_above_one_allows_that_many(app: PQ) -> None:
    nap = app.task(flowapp.nap, concurrency_key="reports", max_concurrency_per_key=2)
    for _ in range(4):
        nap.delay(0)
    with claimer(app) as (ex, me):
        assert len(claim(app, ex, me).rows) == 2
        assert claim(app, ex, me).rows == []


def test_a_waiting_task_can_be_cancelled(app: PQ) -> None:
    handle = app.task(flowapp.noop, rate_limit="1/h").delay()
    assert handle.cancel()
    assert handle.status() is TaskStatus.CANCELLED


def test_limited_tasks_run_to_the_end_in_a_burst_worker(app: PQ) -> None:
    add = app.task(flowapp.add, rate_limit="50/s")
    nap = app.task(flowapp.nap, concurrency_key="solo")
    handles = [add.delay(i, i) for i in range(5)] + [nap.delay(0) for _ in range(3)]
    app.run_worker(burst=True, concurrency=2)
    assert [h.result(timeout=5) for h in handles[:5]] == [0, 2, 4, 6, 8]
    assert {h.status() for h in handles} == {TaskStatus.COMPLETED}


def test_bad_limits_are_refused_before_anything_is_written(app: PQ) -> None:
    with pytest.raises(ConfigurationError, match="COUNT/UNIT"):
        app.task(flowapp.noop, rate_limit="fast")
    with pytest.raises(ConfigurationError, match="max_concurrency_per_key"):
        app.task(flowapp.noop, max_concurrency_per_key=0)
