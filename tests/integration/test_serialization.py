"""Arguments and results: JSON first, pydantic models by annotation, dill for the rest, the
pickle policy (allow_pickle, secret_key) enforced at enqueue and in the worker, and payloads
that no longer load failing only their own task."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from decimal import Decimal

import psycopg
import pytest

from pq import PQ, OutcomeKind, SerializationError, TaskStatus
from taskmods import api


def _run_one(app: PQ, task_id: int) -> tuple[TaskStatus, str | None, object]:
    app.run_worker(burst=True)
    task = app.get_task(task_id)
    assert task is not None
    return task.status, task.error, task.result


def _sql(db_url: str, statement: str, *params: object) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(statement, params)  # type: ignore[arg-type]


def test_json_arguments_are_stored_readably(app: PQ) -> None:
    task_id = app.enqueue(api.echo, {"a": [1, 2.5, None, True]})
    assert app.get_task(task_id).args == [{"a": [1, 2.5, None, True]}]  # type: ignore[union-attr]


def test_a_pydantic_argument_arrives_as_the_annotated_model(app: PQ) -> None:
    user = api.User(name="ann", age=3)
    by_position = app.enqueue(api.describe_user, user)
    by_name = app.enqueue(api.describe_user, user=user)
    app.run_worker(burst=True)

    assert app.get_task(by_position).args == [{"name": "ann", "age": 3}]  # type: ignore[union-attr]
    assert app.get_task(by_position).result == "User:ann:3"  # type: ignore[union-attr]
    assert app.get_task(by_name).result == "User:ann:3"  # type: ignore[union-attr]


def test_variadic_parameters_annotated_with_a_model_do_not_break_the_call(app: PQ) -> None:
    user = api.User(name="ann", age=3)
    task_id = app.enqueue(api.describe_users, user, user, extra=user)
    status, error, result = _run_one(app, task_id)
    assert (status, error, result) == (TaskStatus.COMPLETED, None, 3)


def test_values_json_cannot_hold_travel_by_dill(app: PQ) -> None:
    when = datetime(2030, 1, 2, tzinfo=UTC)
    ids = [app.enqueue(api.type_name, v) for v in ({1, 2}, when, Decimal("1.5"), b"raw")]
    app.run_worker(burst=True)
    assert [app.get_task(i).result for i in ids] == [  # type: ignore[union-attr]
        "set",
        "datetime",
        "Decimal",
        "bytes",
    ]


def test_allow_pickle_false_refuses_non_json_at_enqueue_and_stores_nothing(db_url: str) -> None:
    app = PQ(db_url, allow_pickle=False)
    with pytest.raises(SerializationError, match="allow_pickle=False"):
        app.enqueue(api.type_name, {1, 2})
    with pytest.raises(SerializationError, match="allow_pickle=False"):
        app.task(api.type_name).delay(object())
    app.enqueue(api.describe_user, api.User(name="ok", age=1))  # models are JSON: allowed
    assert app.pending_count() == 1
    app.close()


def test_allow_pickle_false_in_the_worker_fails_a_pickled_task_and_goes_on(db_url: str) -> None:
    producer = PQ(db_url)
    pickled = producer.enqueue(api.type_name, {1, 2})
    plain = producer.enqueue(api.type_name, [1, 2])
    producer.close()

    worker = PQ(db_url, allow_pickle=False)
    assert worker.run_worker(burst=True) == 2

    bad = worker.get_task(pickled)
    assert bad is not None and bad.status is TaskStatus.FAILED
    assert "SerializationError" in (bad.error or "")
    assert "allow_pickle=False" in (bad.error or "")
    assert worker.get_task(plain).result == "list"  # type: ignore[union-attr]
    worker.close()


def test_with_a_secret_key_signed_pickles_run(db_url: str) -> None:
    app = PQ(db_url, secret_key="s3cret")
    task_id = app.enqueue(api.type_name, {1, 2})
    assert app.get_task(task_id).args[0]["sig"]  # type: ignore[union-attr]
    assert _run_one(app, task_id)[2] == "set"
    app.close()


def test_with_a_secret_key_unsigned_or_tampered_pickles_are_refused(db_url: str) -> None:
    no_key, wrong_key = PQ(db_url), PQ(db_url, secret_key="another")
    unsigned = no_key.enqueue(api.type_name, {1, 2})
    other_key = wrong_key.enqueue(api.type_name, {5})
    no_key.close()
    wrong_key.close()
    app = PQ(db_url, secret_key="s3cret")
    tampered = app.enqueue(api.type_name, {3, 4})
    forged = base64.b64encode(b"not what was signed").decode()
    _sql(
        db_url,
        "UPDATE pq_tasks SET args = jsonb_set(args, '{0,__pq_pickle__}', to_jsonb(%s::text)) "
        "WHERE id = %s",
        forged,
        tampered,
    )
    after = app.enqueue(api.echo, "still works")

    assert app.run_worker(burst=True) == 4

    for task_id in (unsigned, tampered, other_key):
        task = app.get_task(task_id)
        assert task is not None and task.status is TaskStatus.FAILED
        assert "signature does not match secret_key" in (task.error or "")
    assert app.get_task(after).result == "still works"  # type: ignore[union-attr]
    app.close()


def test_a_payload_that_no_longer_loads_fails_its_task_with_a_clear_error(
    app: PQ, db_url: str
) -> None:
    broken = app.enqueue(api.type_name, {1, 2})
    junk = base64.b64encode(b"\x80\x04this is not a pickle").decode()
    _sql(
        db_url,
        "UPDATE pq_tasks SET args = jsonb_set(args, '{0,__pq_pickle__}', to_jsonb(%s::text)) "
        "WHERE id = %s",
        junk,
        broken,
    )
    stale_model = app.enqueue(api.describe_user, api.User(name="a", age=1))
    _sql(db_url, "UPDATE pq_tasks SET args = %s::jsonb WHERE id = %s",
         json.dumps([{"name": "a"}]), stale_model)  # fmt: skip
    gone = app.enqueue(api.echo, 1)
    _sql(db_url, "UPDATE pq_tasks SET name = 'taskmods.api:renamed_away' WHERE id = %s", gone)
    good = app.enqueue(api.echo, "fine")

    assert app.run_worker(burst=True) == 4

    errors = {}
    for task_id in (broken, stale_model, gone):
        task = app.get_task(task_id)
        assert task is not None and task.status is TaskStatus.FAILED
        assert task.outcome is OutcomeKind.EXCEPTION
        errors[task_id] = task.error or ""
    assert "no longer loads" in errors[broken]
    assert "does not match its annotation" in errors[stale_model]
    assert "UnknownTaskError" in errors[gone] and "renamed_away" in errors[gone]
    assert app.get_task(good).result == "fine"  # type: ignore[union-attr]


def test_a_return_value_that_cannot_be_stored_fails_the_task_clearly(db_url: str) -> None:
    app = PQ(db_url, allow_pickle=False)
    task_id = app.enqueue(api.returns_set)
    status, error, _ = _run_one(app, task_id)
    assert status is TaskStatus.FAILED
    assert "the return value" in (error or "") and "allow_pickle=False" in (error or "")
    app.close()
