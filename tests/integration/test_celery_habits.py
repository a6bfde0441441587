"""What a Celery user types in their first hour, answered the way they expect."""

from __future__ import annotations

from datetime import datetime

import pytest

from pq import PQ, ConfigurationError, Task, TaskDefinitionError, TaskFailedError, TaskStatus
from taskmods import funcs


def test_handle_get_with_a_timeout_returns_the_result_like_celery(app: PQ) -> None:
    add = app.task(funcs.add)
    fail = app.task(funcs.fail)
    good, bad = add.delay(2, 3), fail.delay("nope")
    app.run_worker(burst=True)

    assert good.get(timeout=5) == 5
    assert good.get(5) == 5
    with pytest.raises(TaskFailedError, match="nope"):
        bad.get(timeout=5)
    returned = bad.get(timeout=5, propagate=False)
    assert isinstance(returned, TaskFailedError) and "nope" in str(returned)

    snapshot = good.snapshot()
    assert isinstance(snapshot, Task) and snapshot.status is TaskStatus.COMPLETED
    with pytest.warns(DeprecationWarning, match=r"snapshot\(\)"):
        old = good.get()
    assert isinstance(old, Task) and old.id == good.id


def test_delay_with_arguments_the_function_cannot_take_is_refused_at_enqueue(app: PQ) -> None:
    add = app.task(funcs.add)
    with pytest.raises(TypeError, match=r"taskmods\.funcs:add\(a, b\): too many positional"):
        add.delay(1, 2, 3)
    with pytest.raises(TypeError, match="missing a required argument"):
        add.apply_async((1,))
    with pytest.raises(TypeError, match="unexpected keyword"):
        add.upsert(1, 2, c=3, client_id="x")
    assert app.pending_count() == 0
    add.delay(1, b=2)  # a call that binds is stored
    assert app.pending_count() == 1


def test_a_naive_eta_is_named_eta_in_the_error(app: PQ) -> None:
    task = app.task(funcs.add)
    with pytest.raises(ConfigurationError, match=r"^eta=2030-01-01T12:00:00 has no timezone"):
        task.apply_async((1, 2), eta=datetime(2030, 1, 1, 12, 0))
    with pytest.raises(ConfigurationError, match="pass eta or countdown"):
        task.apply_async((1, 2), eta=datetime(2030, 1, 1, 12, 0), countdown=5)


def test_enqueue_takes_a_registered_name_and_says_what_to_pass_otherwise(app: PQ) -> None:
    add = app.task(funcs.add)
    task_id = app.enqueue("taskmods.funcs:add", 2, 3)
    assert app.get_task(task_id).name == add.name  # type: ignore[union-attr]
    with pytest.raises(TaskDefinitionError, match=r"not a registered task name.*pass the task"):
        app.enqueue("myapp:boom")
    with pytest.raises(TypeError, match="too many positional"):
        app.enqueue(funcs.add, 1, 2, 3)
    with pytest.raises(TypeError, match="missing a required argument"):
        app.enqueue("taskmods.funcs:add", 1)
    assert app.pending_count() == 1
    assert app.run_worker(burst=True) == 1
    assert app.get_task(task_id).result == 5  # type: ignore[union-attr]


def test_check_arguments_false_stores_the_call_unchecked(app: PQ) -> None:
    loose = app.task(check_arguments=False)(funcs.add)
    handle = loose.delay(1, 2, 3)
    app.run_worker(burst=True)
    with pytest.raises(TaskFailedError, match="TypeError"):
        handle.get(timeout=5)
