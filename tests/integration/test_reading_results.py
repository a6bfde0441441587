"""Reading and cleaning history, and results: stored return values, handles that wait by
notification, remote tracebacks on failure."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from pq import (
    PQ,
    OutcomeKind,
    ResultTimeoutError,
    Task,
    TaskFailedError,
    TaskNotFoundError,
    TaskStatus,
)
from taskmods import api, funcs


def test_enqueue_returns_an_id_and_delay_returns_a_handle(app: PQ) -> None:
    task_id = app.enqueue(funcs.add, 1, 2)
    handle = app.task(funcs.add).delay(3, 4)
    assert isinstance(task_id, int)
    assert isinstance(handle.id, int) and handle.id != task_id
    assert handle.status() is TaskStatus.PENDING


def test_the_return_value_is_stored_and_result_returns_it(app: PQ) -> None:
    handle = app.task(api.make_user).delay("ann")
    app.run_worker(burst=True)

    assert handle.snapshot().result == {"name": "ann", "age": 7}  # stored as JSON
    assert handle.result(timeout=10) == {"name": "ann", "age": 7}


def test_a_pickled_return_value_comes_back_as_itself(app: PQ) -> None:
    handle = app.task(api.returns_set).delay()
    app.run_worker(burst=True)
    assert handle.result(timeout=10) == {1, 2}


def test_result_waits_for_a_worker_that_finishes_later(db_url: str) -> None:
    app = PQ(db_url)
    handle = app.task(funcs.add).delay(20, 22)
    results: list[object] = []
    waiter = threading.Thread(target=lambda: results.append(handle.result(timeout=60)))
    waiter.start()  # blocks on LISTEN until the worker below records the end

    worker_app = PQ(db_url)
    worker_app.run_worker(burst=True)
    waiter.join()

    assert results == [42]
    app.close()
    worker_app.close()


def test_result_of_a_failed_task_raises_with_the_remote_traceback(app: PQ) -> None:
    handle = app.task(funcs.fail).delay("bad input")
    app.run_worker(burst=True)

    with pytest.raises(TaskFailedError) as caught:
        handle.result(timeout=10)

    assert "ValueError: bad input" in str(caught.value)
    assert caught.value.task_id == handle.id
    assert caught.value.remote_traceback is not None
    assert "Traceback" in caught.value.remote_traceback
    assert "in fail" in caught.value.remote_traceback


def test_result_times_out_with_a_clear_error_while_nothing_runs_it(app: PQ) -> None:
    handle = app.task(funcs.add).delay(1, 1)
    with pytest.raises(ResultTimeoutError, match=r"did not finish within 0\.2s"):
        handle.result(timeout=0.2)
    with pytest.raises(TimeoutError):  # also the builtin, for generic code
        handle.result(timeout=0.01)


def test_a_handle_of_a_cleared_task_says_it_is_gone(app: PQ) -> None:
    handle = app.task(funcs.add).delay(1, 1)
    app.run_worker(burst=True)
    app.clear_completed()
    with pytest.raises(TaskNotFoundError):
        handle.status()
    assert app.get_task(handle.id) is None


def test_list_failed_and_completed_are_newest_first_with_a_limit(app: PQ) -> None:
    ok = [app.enqueue(funcs.add, i, 0) for i in range(3)]
    bad = [app.enqueue(funcs.fail, f"e{i}") for i in range(2)]
    app.run_worker(burst=True)

    completed = app.list_completed()
    assert [t.id for t in completed] == list(reversed(ok))
    assert all(isinstance(t, Task) for t in completed)
    assert [t.id for t in app.list_completed(limit=2)] == list(reversed(ok))[:2]
    failed = app.list_failed()
    assert [t.id for t in failed] == list(reversed(bad))
    assert failed[0].error is not None and "ValueError: e1" in failed[0].error
    assert failed[0].outcome is OutcomeKind.EXCEPTION
    assert failed[0].attempts == 1 and failed[0].finished_at is not None
    assert completed[0].result == 2 and completed[0].history[0].cpu_seconds is not None


def test_pending_count_counts_waiting_tasks(app: PQ) -> None:
    app.enqueue(funcs.add, 1, 1)
    app.enqueue(funcs.add, 1, 1, run_at=datetime.now(UTC) + timedelta(hours=1))
    assert app.pending_count() == 2
    app.run_worker(burst=True)
    assert app.pending_count() == 1


def test_clear_failed_and_completed_respect_before(app: PQ) -> None:
    app.enqueue(funcs.add, 1, 1)
    app.enqueue(funcs.fail)
    app.run_worker(burst=True)
    an_hour_ago = datetime.now(UTC) - timedelta(hours=1)

    assert app.clear_completed(before=an_hour_ago) == 0
    assert app.clear_failed(before=an_hour_ago) == 0
    assert app.clear_failed(before=datetime.now(UTC) + timedelta(seconds=5)) == 1
    assert app.list_failed() == []
    assert len(app.list_completed()) == 1  # clearing failed left completed alone
    assert app.clear_completed() == 1
    assert app.list_completed() == []
