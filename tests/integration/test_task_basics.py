"""The basic calls: decorate, delay, apply_async, enqueue, call inline."""

from __future__ import annotations

import decimal
from datetime import UTC, datetime, timedelta

import pytest

from pq import PQ, DuplicateClientIdError, Priority, TaskDefinitionError, TaskHandle, TaskStatus
from taskmods import funcs


def test_decorated_function_called_directly_runs_inline(app: PQ) -> None:
    add = app.task(funcs.add)
    assert add(2, 3) == 5
    assert app.pending_count() == 0


def test_delay_and_apply_async_enqueue_with_task_defaults(app: PQ) -> None:
    add = app.task(funcs.add, priority=Priority.HIGH, queue="math", max_runtime=5)
    first = add.delay(1, 2)
    second = add.apply_async((3,), {"b": 4}, priority="critical")

    one, two = first.snapshot(), second.snapshot()
    assert (one.name, one.priority, one.queue) == ("taskmods.funcs:add", 75, "math")
    assert one.options["max_runtime"] == 5
    assert two.priority == 100 and two.kwargs == {"b": 4}

    assert app.run_worker(burst=True, queues=["math"]) == 2
    assert first.result(timeout=5) == 3
    assert second.result(timeout=5) == 7


def test_enqueue_accepts_any_importable_function(app: PQ) -> None:
    task_id = app.enqueue(funcs.add, 5, b=6)
    app.run_worker(burst=True)
    task = app.get_task(task_id)
    assert task is not None and task.status is TaskStatus.COMPLETED and task.result == 11


def test_countdown_delays_the_claim(app: PQ) -> None:
    later = app.task(funcs.noop).apply_async(countdown=3600)
    at = app.enqueue(funcs.noop, run_at=datetime.now(UTC) + timedelta(hours=1))
    assert app.run_worker(burst=True) == 0
    assert later.status() is TaskStatus.PENDING
    assert app.get_task(at).status is TaskStatus.PENDING  # type: ignore[union-attr]


def test_non_json_arguments_travel_by_dill(app: PQ) -> None:
    task_id = app.enqueue(funcs.add, decimal.Decimal("1.5"), decimal.Decimal("2.25"))
    stored = app.get_task(task_id)
    assert stored is not None and "__pq_pickle__" in stored.args[0]
    app.run_worker(burst=True)
    # the result is a Decimal too: stored by dill, it comes back as one
    assert TaskHandle(app, task_id).result(timeout=5) == decimal.Decimal("3.75")


def test_lambdas_and_closures_are_refused_before_anything_is_written(app: PQ) -> None:
    def closure() -> None: ...

    with pytest.raises(TaskDefinitionError, match="lambda"):
        app.enqueue(lambda: None)
    with pytest.raises(TaskDefinitionError, match="module level"):
        app.enqueue(closure)
    assert app.pending_count() == 0


def test_an_unknown_task_name_fails_that_task_only(app: PQ) -> None:
    ghost = app.insert_task(
        "taskmods.funcs:was_renamed", [], {}, app.options_for("x"), run_at=None, client_id=None
    )
    fine = app.enqueue(funcs.add, 1, 1)
    app.run_worker(burst=True)
    failed = app.get_task(ghost)
    assert failed is not None and failed.status is TaskStatus.FAILED
    assert "has no attribute 'was_renamed'" in (failed.error or "")
    assert app.get_task(fine).status is TaskStatus.COMPLETED  # type: ignore[union-attr]


def test_each_task_and_each_call_stores_its_own_options(app: PQ) -> None:
    # The options text is built once per set of options and reused: a call that changes an
    # option, or another task of the same function, must not get the first one's text.
    slow = app.task(funcs.add, max_runtime=5, retries=2)
    quick = app.task(funcs.add, max_runtime=1)
    plain = app.task(funcs.add)
    runs = [
        slow.delay(1, 1),
        quick.delay(1, 1),
        slow.apply_async((1, 1), max_runtime=9, max_memory="1MiB"),
        slow.delay(1, 1),
        plain.delay(1, 1),
    ]
    options = [run.snapshot().options for run in runs]
    assert [o.get("max_runtime") for o in options] == [5, 1, 9, 5, None]
    assert [o.get("max_memory") for o in options] == [None, None, 1024 * 1024, None, None]
    assert [r.snapshot().max_attempts for r in runs] == [3, 1, 3, 3, 1]
    bulk = quick.map([(1, 1)])
    assert app.get_task(bulk[0]).options.get("max_runtime") == 1  # type: ignore[union-attr]


def test_a_call_that_does_not_fit_the_signature_is_refused_every_time(app: PQ) -> None:
    # The signature is read once per function; the binding still runs at every call.
    add = app.task(funcs.add)
    add.delay(1, 2)
    for bad in [(1,), (1, 2, 3)]:
        with pytest.raises(TypeError, match=r"add\(a, b\)"):
            add.delay(*bad)
    with pytest.raises(TypeError, match="unexpected keyword argument 'c'"):
        app.enqueue(funcs.add, 1, 2, c=3)
    assert app.pending_count() == 1


def test_a_delay_hands_its_pooled_connection_back_transactional(db_url: str) -> None:
    # A single enqueue commits in its own round trip (autocommit on the pooled connection);
    # the connection must go back to the pool as it came, even after a failed insert, so a
    # block of several statements on it that fails still rolls back whole.
    app = PQ(db_url, pool_max_size=1)
    add = app.task(funcs.add)
    add.apply_async((1, 2), client_id="once")
    with pytest.raises(DuplicateClientIdError):
        add.apply_async((1, 2), client_id="once")
    table = f'"{app.settings.schema}".pq_tasks'
    with pytest.raises(RuntimeError), app.executor() as ex:
        ex.fetch(f"INSERT INTO {table} (name) VALUES ('never') RETURNING id", {})
        raise RuntimeError("the block fails after its first statement")
    assert app.pending_count() == 1
    add.delay(3, 4)
    assert app.pending_count() == 2
    app.close()
