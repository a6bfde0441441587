"""Bulk enqueue: `task.map()` / `app.enqueue_many()` write many tasks with one COPY and
return their ids in item order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pq import PQ, Priority, SerializationError, TaskDefinitionError, TaskStatus
from taskmods import api, funcs


def test_map_enqueues_one_task_per_item_and_returns_ids_in_order(app: PQ) -> None:
    add = app.task(funcs.add)
    ids = add.map([(1, 2), (3, 4), {"a": 5, "b": 6}])

    assert len(ids) == 3 and ids == sorted(ids)
    assert app.run_worker(burst=True) == 3
    assert [app.get_task(i).result for i in ids] == [3, 7, 11]  # type: ignore[union-attr]


def test_a_non_tuple_item_is_the_single_argument(app: PQ) -> None:
    ids = app.enqueue_many(api.echo, ["x", [1, 2], ({"a": 1},)])
    app.run_worker(burst=True)
    results = [app.get_task(i).result for i in ids]  # type: ignore[union-attr]
    assert results == ["x", [1, 2], {"a": 1}]


def test_bulk_options_apply_to_every_task(app: PQ) -> None:
    later = datetime.now(UTC) + timedelta(hours=1)
    ids = app.enqueue_many(api.echo, range(3), priority=Priority.HIGH, queue="bulk", run_at=later)
    tasks = [app.get_task(i) for i in ids]
    assert {(t.priority, t.queue, t.run_at, t.status) for t in tasks if t} == {
        (75, "bulk", later, TaskStatus.PENDING)
    }
    assert app.run_worker(burst=True, queues=["bulk"]) == 0  # not due yet


def test_an_empty_iterable_enqueues_nothing(app: PQ) -> None:
    assert app.enqueue_many(api.echo, []) == []
    assert app.pending_count() == 0


def test_one_bad_item_fails_the_whole_call_before_anything_is_written(db_url: str) -> None:
    app = PQ(db_url, allow_pickle=False)
    with pytest.raises(SerializationError, match="allow_pickle=False"):
        app.enqueue_many(api.echo, [1, 2, {3}])
    with pytest.raises(TaskDefinitionError, match="lambda"):
        app.enqueue_many(lambda x: x, [1])
    assert app.pending_count() == 0
    app.close()


def test_a_hundred_thousand_tasks_in_one_call(app: PQ) -> None:
    ids = app.task(funcs.add).map((i, i) for i in range(100_000))

    assert len(ids) == 100_000 == len(set(ids))
    assert app.pending_count() == 100_000
    last = app.get_task(ids[-1])
    assert last is not None and last.args == [99_999, 99_999] and last.name.endswith(":add")
