"""Cancelling a whole workflow (chain, group, chord, nested): every task not yet finished is
cancelled (pending ones never run, a running one is killed by its real worker, as a single
cancel does), no later step starts, also from a step that ends while or after the cancel
runs, and the handle reports the workflow cancelled."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from claims import claim, register_worker

from pq import (
    PQ,
    OutcomeKind,
    TaskCancelledError,
    TaskStatus,
    WorkflowCancelledError,
    WorkflowCancelStalledError,
    chain,
    chord,
    group,
)
from pq.store.db import PsycopgExecutor
from pq.worker.attempt import finish_record
from pq.worker.outcome import Outcome, Usage
from taskmods import flowapp
from waiting import wait_until


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def _in_background(fn: Any) -> threading.Thread:
    thread = threading.Thread(target=fn, daemon=True)
    thread.start()
    return thread


def test_a_chain_cancelled_while_a_step_runs_kills_it_and_starts_no_later_step(
    app: PQ, db_url: str, tmp_path: Path
) -> None:
    step, gated = app.task(flowapp.step), app.task(flowapp.gated_step)
    path, gate = str(tmp_path / "trace"), str(tmp_path / "never-opened")
    handle = chain(
        step.s(None, "a", path), gated.s("b", path, gate), step.s("c", path), step.s("d", path)
    ).delay()
    other = PQ(db_url)  # the canceller: another process's app, as a web request would be
    answers: list[bool] = []

    def cancel_once_b_runs() -> None:
        wait_until(lambda: "b-started" in _lines(Path(path)), timeout=30)
        answers.append(other.cancel_workflow(handle.id))

    thread = _in_background(cancel_once_b_runs)
    app.run_worker(burst=True)  # returns: b was killed and nothing is left to run
    thread.join()
    other.close()

    assert answers == [True]
    assert _lines(Path(path)) == ["a", "b-started"]
    rows = handle.tasks()
    assert [(t.workflow_step, t.status) for t in rows] == [
        (0, TaskStatus.COMPLETED),
        (1, TaskStatus.CANCELLED),
    ]
    assert rows[1].outcome is OutcomeKind.CANCELLED  # killed, not failed: no retry (it has 2)
    with pytest.raises(WorkflowCancelledError, match=rf"chain {handle.id} was cancelled") as err:
        handle.result(timeout=10)
    assert f"task {rows[1].id} (" in str(err.value) and "no later step was started" in str(
        err.value
    )
    assert isinstance(err.value, TaskCancelledError) and err.value.failed[0].id == rows[1].id
    assert isinstance(handle.get(timeout=10, propagate=False), WorkflowCancelledError)
    assert handle.cancelled() and handle.cancel() is False  # it has ended: nothing to stop


def test_a_pending_nested_workflow_cancels_every_first_row_and_never_fires_its_barriers(
    app: PQ, db_url: str
) -> None:
    add, mul, total = (app.task(f) for f in (flowapp.add, flowapp.mul, flowapp.total))
    nested = chain(add.s(1, 2), group(mul.s(10), add.s(5)), total.s()).delay()
    members = chord([chain(add.s(1, 1), mul.s(3)), add.s(2, 2)], total.s()).delay()
    flat = group(add.s(i, i) for i in range(3)).delay()
    kept = chain(add.s(1, 1), mul.s(2)).delay()  # another workflow: untouched

    assert [h.cancel() for h in (nested, members, flat)] == [True, True, True]
    assert app.run_worker(burst=True) == 2  # only `kept` ran
    assert kept.result(timeout=10) == 4
    for handle in (nested, members, flat):
        assert {t.status for t in handle.tasks()} == {TaskStatus.CANCELLED}
        with pytest.raises(WorkflowCancelledError, match="was cancelled before it finished"):
            handle.get(timeout=10)
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT count(*) FROM pq_chords WHERE fired").fetchone() == (0,)


def _claim(app: PQ, ex: PsycopgExecutor, n: int = 1) -> list[dict[str, Any]]:
    return claim(app, ex, register_worker(app, ex, concurrency=n), n)


def _success(row: dict[str, Any], result: Any) -> dict[str, Any]:
    record = finish_record(row, Outcome(OutcomeKind.SUCCESS, result=result), Usage(0, None, None))
    return json.loads(json.dumps(record, default=str))  # as the worker sends it


@pytest.fixture
def recorder(app: PQ) -> Iterator[psycopg.Connection[Any]]:
    """A connection that plays the worker: claims rows and records their ends with the
    worker's own statements, at moments the test chooses."""
    conn = app.connect()
    conn.autocommit = True
    yield conn
    conn.close()


def test_a_step_that_completes_after_the_cancel_writes_no_link_and_feeds_no_barrier(
    app: PQ, recorder: psycopg.Connection[Any]
) -> None:
    add, total = app.task(flowapp.add), app.task(flowapp.total)
    handle = chord([chain(add.s(1, 1), add.s(1)), add.s(2, 2)], total.s()).delay()
    ex = PsycopgExecutor(recorder)
    claimed = {r["workflow_step"]: r for r in _claim(app, ex, 2)}
    assert app.cancel_workflow(handle.id) is True
    # both were running: asked to stop; they complete anyway (a task can beat its kill)
    changed = app.queries.task_finish(ex, [_success(claimed[0], 2), _success(claimed[2], 4)])
    assert sorted(changed.values()) == ["completed", "completed"]  # and nothing new
    assert len(handle.tasks()) == 2  # no chain step 1, no callback
    assert recorder.execute("SELECT results, fired FROM pq_chords").fetchone() == ({}, False)
    with pytest.raises(WorkflowCancelledError, match=f"chord {handle.id} was cancelled"):
        handle.result(timeout=10)


def _waits_on_a_lock(conn: psycopg.Connection[Any], pid: int) -> bool:
    row = conn.execute(
        "SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", (pid,)
    ).fetchone()
    return row is not None and row[0] == "Lock"


def test_a_step_recorded_during_the_cancel_has_its_link_cancelled_before_the_cancel_returns(
    app: PQ, db_url: str, recorder: psycopg.Connection[Any]
) -> None:
    """The race in the other order: the step's end (with its link) is being written, holding
    the step's row, when the cancel starts. The cancel stops what it can, leaves the locked
    row, and returns only after a pass that sees the link the step wrote and cancels it."""
    add = app.task(flowapp.add)
    handle = group(chain(add.s(1, 2), add.s(10), add.s(100)), add.s(5, 5)).delay()
    ex = PsycopgExecutor(recorder)
    (first,) = [r for r in _claim(app, ex, 1) if r["workflow_step"] == 0]
    other = PQ(db_url)
    answers: list[bool] = []
    with recorder.transaction():
        app.queries.task_finish(ex, [_success(first, 3)])  # the link to step 1, uncommitted
        canceller = _in_background(lambda: answers.append(other.cancel_workflow(handle.id)))
        # the member that was pending is cancelled by a first pass ...
        wait_until(lambda: handle.tasks()[-1].status is TaskStatus.CANCELLED, timeout=30)
        assert canceller.is_alive()  # ... which cannot end the cancel: step 0 is locked
    canceller.join(timeout=30)
    other.close()
    assert answers == [True] and not canceller.is_alive()
    steps = {t.workflow_step: t.status for t in handle.tasks()}
    assert steps == {0: TaskStatus.COMPLETED, 1: TaskStatus.CANCELLED, 3: TaskStatus.CANCELLED}
    assert app.run_worker(burst=True) == 0
    with pytest.raises(WorkflowCancelledError):
        handle.results(timeout=10)


def test_a_step_recorded_while_a_cancel_pass_holds_its_row_waits_and_writes_no_link(
    app: PQ, db_url: str, recorder: psycopg.Connection[Any]
) -> None:
    """The race in the first order: a cancel pass has locked the running step when the
    worker records its success. The recording waits for the pass, then reads the row's new
    flow: the step completes, and its link is not written."""
    add = app.task(flowapp.add)
    handle = chain(add.s(1, 2), add.s(10)).delay()
    ex = PsycopgExecutor(recorder)
    (first,) = _claim(app, ex, 1)
    changed: list[dict[int, str]] = []
    with psycopg.connect(db_url) as canceller, canceller.transaction():
        seen, stopped = app.queries.flow_cancel(PsycopgExecutor(canceller), handle.id)
        assert (seen, stopped) == (1, [first["id"]])
        worker = _in_background(
            lambda: changed.append(app.queries.task_finish(ex, [_success(first, 3)]))
        )
        wait_until(lambda: _waits_on_a_lock(canceller, recorder.info.backend_pid), timeout=30)
    worker.join(timeout=30)
    assert changed == [{first["id"]: "completed"}]  # no new row
    assert [t.status for t in handle.tasks()] == [TaskStatus.COMPLETED]
    with pytest.raises(WorkflowCancelledError):
        handle.result(timeout=10)


@pytest.mark.parametrize("run", range(3))
def test_cancelling_a_fast_workflow_under_a_real_worker_lets_no_link_through(
    app: PQ, db_url: str, tmp_path: Path, run: int
) -> None:
    """Steps end all the time on two slots while the cancel runs: once cancel() returns, the
    workflow's rows are all there is (no link written later) and none of them still runs."""
    step = app.task(flowapp.step)
    path = str(tmp_path / "trace")
    long_chain = chain(step.s(None, "0", path), *(step.s(str(n), path) for n in range(1, 300)))
    handle = group(long_chain, chain(step.s(None, "x0", path), step.s("x1", path))).delay()
    other = PQ(db_url)
    at_return: list[set[int]] = []

    def cancel_mid_way() -> None:
        wait_until(lambda: len(_lines(Path(path))) >= 5 + run * 5, timeout=60)
        assert other.cancel_workflow(handle.id) is True
        at_return.append({t.id for t in handle.tasks()})

    thread = _in_background(cancel_mid_way)
    app.run_worker(concurrency=2, burst=True)
    thread.join()
    other.close()
    rows = handle.tasks()
    assert {t.id for t in rows} == at_return[0]
    assert not [t for t in rows if t.status not in (TaskStatus.COMPLETED, TaskStatus.CANCELLED)]
    # Every completed step left its trace, and only steps that started did: one cancelled
    # while running may have left it just before its worker killed it. None ran twice.
    lines = _lines(Path(path))
    completed = {t.args[-2] for t in rows if t.status is TaskStatus.COMPLETED}
    started = completed | {t.args[-2] for t in rows if t.attempts > 0}
    assert completed <= set(lines) <= started
    assert len(lines) == len(set(lines))
    with pytest.raises(WorkflowCancelledError):
        handle.results(timeout=10)


def test_a_cancel_that_cannot_reach_rows_another_transaction_locks_says_so_after_its_timeout(
    app: PQ, db_url: str
) -> None:
    """A session left idle in a transaction holding a step's row must not hang the cancel:
    it stops what it can reach, then raises after `timeout` seconds without progress; once
    that transaction ends, cancelling again finishes the job."""
    add = app.task(flowapp.add)
    handle = group(add.s(1, 1), add.s(2, 2), add.s(3, 3)).delay()
    locked = handle.tasks()[0].id
    with psycopg.connect(db_url) as holder:
        holder.execute("SELECT id FROM pq_tasks WHERE id = %s FOR UPDATE", (locked,))
        with pytest.raises(WorkflowCancelStalledError, match=f"workflow {handle.id}: 1 task"):
            app.cancel_workflow(handle.id, timeout=0.5)
        statuses = {t.id: t.status for t in handle.tasks()}
        assert statuses.pop(locked) is TaskStatus.PENDING  # out of reach
        assert set(statuses.values()) == {TaskStatus.CANCELLED}
    assert handle.cancel() is True  # the lock is gone
    assert {t.status for t in handle.tasks()} == {TaskStatus.CANCELLED}
    assert app.run_worker(burst=True) == 0
