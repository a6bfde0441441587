"""Bulk enqueue: `task.map()` / `app.enqueue_many()` write many tasks with one COPY and
return their ids in item order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pq import (
    PQ,
    ConfigurationError,
    Priority,
    SerializationError,
    TaskDefinitionError,
    TaskStatus,
)
from taskmods import api, funcs, hostile


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


def test_a_bad_item_deep_in_a_big_call_is_named_by_its_position_and_nothing_is_written(
    db_url: str,
) -> None:
    # Past the first few COPY chunks: the rows before it were already streaming.
    app = PQ(db_url, pool_max_size=1)
    items: list[object] = [(i, i) for i in range(5000)]
    items[4321] = (1, "bad\x00text")
    with pytest.raises(SerializationError, match=r"item 4321 of map\(\).*argument 1.*NUL"):
        app.task(funcs.add).map(items)
    assert app.pending_count() == 0
    # The same pooled connection carries on: the aborted COPY was rolled back.
    assert len(app.task(funcs.add).map([(1, 2)])) == 1
    assert app.pending_count() == 1
    app.close()


def test_a_dict_item_with_a_non_str_key_is_named_by_its_position(app: PQ) -> None:
    with pytest.raises(ConfigurationError, match="item 2 of map"):
        app.enqueue_many(api.echo, [1, 2, {1: "x"}])
    assert app.pending_count() == 0


def test_arguments_with_copy_format_characters_come_back_as_given(app: PQ) -> None:
    # Rows are streamed as COPY text: tabs, newlines, backslashes and quotes must survive.
    values = ["a\tb", "c\nd\re", "back\\slash \\N \\.", '"quoted" \\"', "é ü 日本 \u2028", ""]
    ids = app.enqueue_many(api.echo, values)
    assert [app.get_task(i).args for i in ids] == [[v] for v in values]  # type: ignore[union-attr]
    # keyword names with COPY's special characters, for a function that takes any keyword
    queued = app.enqueue_many(
        hostile.accept_anything, [{"key\twith\\tab": "v"}], queue="q\\with\ttab"
    )
    task = app.get_task(queued[0])
    assert task is not None and task.kwargs == {"key\twith\\tab": "v"}
    assert task.queue == "q\\with\ttab"


def test_every_item_of_map_is_bound_to_the_signature_before_anything_is_written(app: PQ) -> None:
    add = app.task(funcs.add)
    with pytest.raises(TypeError, match=r"item 2 of map\(\).*too many positional"):
        add.map([(1, 2), (3, 4), (5, 6, 7)])
    with pytest.raises(TypeError, match=r"item 1 of map\(\).*unexpected keyword argument 'c'"):
        app.enqueue_many(add, [{"a": 1, "b": 2}, {"a": 1, "b": 2, "c": 3}])
    with pytest.raises(TypeError, match=r"item 0 of map\(\).*missing a required argument"):
        add.map([5])  # a single value is one positional argument: add needs two
    assert app.pending_count() == 0
    assert len(add.map([(1, 2), {"a": 3, "b": 4}, (5, 6)])) == 3


def test_map_of_a_task_declared_unchecked_stores_calls_that_do_not_bind(app: PQ) -> None:
    loose = app.task(check_arguments=False)(funcs.add)
    assert len(loose.map([(1, 2, 3)])) == 1
    assert app.pending_count() == 1
