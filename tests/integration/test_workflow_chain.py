"""Chains: each step gets the previous step's result, links are written with the step's end
(atomic with it, never twice), and a failed step stops the chain and is named by its handle."""

from __future__ import annotations

import json
from typing import Any

import pytest
from claims import register_worker

from pq import PQ, TaskStatus, WorkflowFailedError, chain, chord
from pq.models import OutcomeKind
from pq.store.db import PsycopgExecutor
from pq.worker.attempt import finish_record
from pq.worker.outcome import Outcome, Usage
from taskmods import flowapp


def test_a_chain_passes_each_result_to_the_next_step(app: PQ) -> None:
    add, mul = app.task(flowapp.add), app.task(flowapp.mul)
    handle = chain(add.s(1, 2), mul.s(10), add.s(5)).delay()
    app.run_worker(burst=True)
    assert handle.result(timeout=10) == 35
    steps = handle.tasks()
    assert [t.workflow_step for t in steps] == [0, 1, 2]
    assert {t.workflow_id for t in steps} == {handle.id}
    assert [t.args for t in steps] == [[1, 2], [3, 10], [30, 5]]


def test_an_immutable_signature_ignores_the_previous_result(app: PQ) -> None:
    add, constant = app.task(flowapp.add), app.task(flowapp.constant)
    handle = (add.s(1, 2) | constant.si(7) | add.s(1)).delay()
    app.run_worker(burst=True)
    assert handle.result(timeout=10) == 8


def test_a_failed_step_fails_the_chain_and_the_rest_never_runs(app: PQ) -> None:
    add, boom = app.task(flowapp.add), app.task(flowapp.boom)
    handle = chain(add.s(1, 2), boom.s(), add.s(100)).delay()
    app.run_worker(burst=True)
    with pytest.raises(WorkflowFailedError, match=r"step 2 of 3.*boom.*ValueError: boom on 3"):
        handle.result(timeout=10)
    failed = handle.failed_step()
    assert failed is not None and failed.name.endswith(":boom")
    assert [t.status for t in handle.tasks()] == [TaskStatus.COMPLETED, TaskStatus.FAILED]


def test_a_chain_step_uses_its_own_options(app: PQ) -> None:
    add = app.task(flowapp.add)
    handle = chain(add.s(1, 1), add.s(1).set(queue="other", priority="high", retries=2)).delay()
    app.run_worker(burst=True)  # only the default queue: the second step waits on "other"
    (first, second) = handle.tasks()
    assert first.status is TaskStatus.COMPLETED
    assert (second.queue, second.priority, second.max_attempts) == ("other", 75, 3)
    assert second.status is TaskStatus.PENDING


def _claim(app: PQ, ex: PsycopgExecutor, worker_id: int) -> dict[str, Any]:
    (row,) = app.queries.task_claim(
        ex, worker_id=worker_id, limit=1, queues=["default"], priorities=None
    )
    return row


def _success(row: dict[str, Any], result: Any) -> dict[str, Any]:
    outcome = Outcome(OutcomeKind.SUCCESS, result=result)
    return json.loads(json.dumps(finish_record(row, outcome, Usage(0.1, None, None)), default=str))


def test_the_next_link_is_written_with_the_record_of_the_step_and_only_once(
    app: PQ, db_url: str
) -> None:
    add = app.task(flowapp.add)
    handle = chain(add.s(1, 2), add.s(10)).delay()
    with app.connect() as conn:
        conn.autocommit = True
        ex = PsycopgExecutor(conn)
        worker_id = register_worker(app, ex)
        record = _success(_claim(app, ex, worker_id), 3)
        with pytest.raises(RuntimeError), conn.transaction():  # the record rolls back ...
            app.queries.task_finish(ex, [record])
            raise RuntimeError("the recording transaction dies")
        assert len(handle.tasks()) == 1  # ... and so does the link
        app.queries.task_finish(ex, [record])
        assert app.queries.task_finish(ex, [record]) == {}  # a late writer: fenced
    steps = handle.tasks()
    assert [(t.workflow_step, t.args) for t in steps] == [(0, [1, 2]), (1, [3, 10])]


def test_signatures_and_chains_read_like_the_code_that_made_them(app: PQ) -> None:
    add = app.task(flowapp.add)
    assert repr(add.s(1, y=2)) == "add.s(1, y=2)"
    assert repr(add.si(1).set(countdown=5)) == "add.si(1).set(countdown=5)"
    assert repr(add.s(1) | add.s(2)) == "add.s(1) | add.s(2)"


def test_signed_chains_and_chords_run_with_a_secret_key_and_a_forged_link_does_not(
    db_url: str,
) -> None:
    app = PQ(db_url, secret_key="s3cret")
    try:
        add, mul, total = (app.task(f) for f in (flowapp.add, flowapp.mul, flowapp.total))
        linked = chain(add.s(1, 2), mul.s(10), add.si(4, 4)).delay()
        gathered = chord([add.s(1, 1), add.s(2, 2)], total.s()).delay()
        forged = chain(add.s(1, 2), mul.s(10)).delay()
        with app.connect() as conn:  # someone with SQL but not the key changes a template
            conn.execute(
                "UPDATE pq_tasks SET flow = jsonb_set(flow, '{next,0,args,0}', '1000') "
                "WHERE workflow_id = %s",
                (forged.id,),
            )
            conn.commit()
        app.run_worker(burst=True)
        assert linked.result(timeout=10) == 8
        assert gathered.result(timeout=10) == 6
        with pytest.raises(WorkflowFailedError, match="signature does not match"):
            forged.result(timeout=10)
    finally:
        app.close()
