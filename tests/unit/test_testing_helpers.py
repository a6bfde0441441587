"""pq.testing: eager mode runs `.delay()` inline and capture records enqueues, neither
touching a database (this app's URL points nowhere)."""

from __future__ import annotations

import pytest

from pq import PQ, SerializationError, TaskFailedError, TaskStatus
from pq.testing import capture, eager
from taskmods import api, funcs


@pytest.fixture
def app() -> PQ:
    return PQ("postgresql://nobody@nowhere.invalid:1/none")


def test_eager_runs_delay_inline_and_the_handle_has_the_result(app: PQ) -> None:
    add = app.task(funcs.add)
    with eager(app) as enqueued:
        handle = add.delay(2, 3)
        task_id = app.enqueue(funcs.add, 10, 1)

    assert handle.result() == 5
    assert handle.status() is TaskStatus.COMPLETED
    assert [c.result for c in enqueued.calls] == [5, 11]
    assert enqueued.calls[1].id == task_id


def test_eager_runs_async_tasks_and_restores_pydantic_arguments(app: PQ) -> None:
    with eager(app):
        assert app.task(api.async_add).delay(1, 2).result() == 3
        user = api.User(name="ann", age=3)
        assert app.task(api.describe_user).delay(user).result() == "User:ann:3"


def test_eager_propagates_task_exceptions_by_default(app: PQ) -> None:
    with eager(app), pytest.raises(ValueError, match="boom"):
        app.task(funcs.fail).delay("boom")


def test_eager_without_propagate_reports_failure_on_the_handle(app: PQ) -> None:
    with eager(app, propagate=False) as enqueued:
        handle = app.task(funcs.fail).delay("boom")
    assert handle.status() is TaskStatus.FAILED
    with pytest.raises(TaskFailedError, match="boom"):
        handle.result()
    assert isinstance(enqueued.calls[0].error, ValueError)


def test_eager_checks_arguments_as_a_real_enqueue_would(app: PQ) -> None:
    strict = PQ("postgresql://nobody@nowhere.invalid:1/none", allow_pickle=False)
    with eager(strict), pytest.raises(SerializationError):
        strict.enqueue(api.echo, {1, 2})


def test_capture_records_without_running_and_asserts_what_was_enqueued(app: PQ) -> None:
    with capture(app) as enqueued:
        app.task(funcs.add).apply_async((1, 2), priority="high", queue="math")
        app.upsert(api.echo, "latest", client_id="k")
        app.task(api.echo).map(["a", "b"])

    enqueued.assert_enqueued(funcs.add, 1, 2)
    enqueued.assert_enqueued(api.echo, "latest")
    enqueued.assert_enqueued("taskmods.api:echo", "b")
    enqueued.assert_not_enqueued(funcs.fail)
    first = enqueued.of(funcs.add)[0]
    assert (first.priority, first.queue, first.status) == (75, "math", TaskStatus.PENDING)
    assert enqueued.of(api.echo)[0].client_id == "k"
    with pytest.raises(AssertionError, match="was not enqueued with"):
        enqueued.assert_enqueued(funcs.add, 9, 9)


def test_leaving_the_block_restores_normal_enqueueing(app: PQ) -> None:
    with capture(app):
        pass
    assert app.interceptor is None
