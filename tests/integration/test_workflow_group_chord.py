"""Groups (results in member order, failures named) and chords (the callback runs once with
every result, also when members end at the same moment on different workers)."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest
from claims import claim, register_worker

from pq import PQ, TaskStatus, WorkflowFailedError, chain, chord, group
from pq.models import OutcomeKind
from pq.store.db import PsycopgExecutor
from pq.worker.attempt import finish_record
from pq.worker.outcome import Outcome, Usage
from taskmods import flowapp


def test_a_group_gives_its_results_in_member_order(app: PQ) -> None:
    add = app.task(flowapp.add)
    handle = group(add.s(i, i) for i in range(6)).delay()
    assert len(handle) == 6 and list(handle) == sorted(handle)  # written at once, in order
    app.run_worker(burst=True)
    assert handle.results(timeout=10) == [0, 2, 4, 6, 8, 10]


def test_a_group_with_failed_members_names_each_of_them(app: PQ) -> None:
    add, boom = app.task(flowapp.add), app.task(flowapp.boom)
    handle = group(add.s(1, 1), boom.s(2), add.s(2, 2), boom.s(4)).delay()
    app.run_worker(burst=True)
    with pytest.raises(WorkflowFailedError) as failure:
        handle.results(timeout=10)
    message = str(failure.value)
    assert "2 of 4 member(s) failed" in message
    assert "member 1:" in message and "boom on 2" in message
    assert "member 3:" in message and "boom on 4" in message
    assert [t.workflow_step for t in failure.value.failed] == [1, 3]


def test_a_chord_runs_its_callback_once_with_every_result(app: PQ, tmp_path: Path) -> None:
    member, collect = app.task(flowapp.member), app.task(flowapp.collect)
    effects = str(tmp_path / "effects")
    handle = chord(group(member.s(i, effects) for i in range(8)), collect.s(effects)).delay()
    app.run_worker(burst=True)
    assert handle.result(timeout=10) == sum(i * i for i in range(8))
    assert Path(effects).read_text().splitlines().count("callback") == 1


def test_a_chord_callback_may_be_a_chain(app: PQ, tmp_path: Path) -> None:
    member, collect, add = (app.task(f) for f in (flowapp.member, flowapp.collect, flowapp.add))
    effects = str(tmp_path / "effects")
    handle = chord([member.s(i, effects) for i in range(3)], chain(collect.s(effects), add.s(1)))
    started = handle.delay()
    app.run_worker(burst=True)
    assert started.result(timeout=10) == 0 + 1 + 4 + 1


def test_a_failed_member_fails_the_chord_and_the_callback_never_runs(
    app: PQ, tmp_path: Path
) -> None:
    add, boom, collect = (app.task(f) for f in (flowapp.add, flowapp.boom, flowapp.collect))
    effects = tmp_path / "effects"
    handle = chord([add.s(1, 1), boom.s(7)], collect.s(str(effects))).delay()
    app.run_worker(burst=True)
    with pytest.raises(WorkflowFailedError, match=r"member 1: .*boom on 7.*callback did not run"):
        handle.result(timeout=10)
    assert len(handle.tasks()) == 2 and not effects.exists()


def _success(row: dict[str, Any], result: Any) -> dict[str, Any]:
    record = finish_record(row, Outcome(OutcomeKind.SUCCESS, result=result), Usage(0, None, None))
    return json.loads(json.dumps(record, default=str))


def test_members_recorded_at_the_same_moment_enqueue_the_callback_once(app: PQ) -> None:
    """Two workers record the last two members in overlapping transactions: the second waits
    for the chord row, sees the first's result, and exactly one callback is written."""
    add, total = app.task(flowapp.add), app.task(flowapp.total)
    handle = chord([add.s(1, 1), add.s(2, 2)], total.s()).delay()
    conns = [app.connect(), app.connect()]
    try:
        for conn in conns:
            conn.autocommit = True
        first, second = (PsycopgExecutor(c) for c in conns)
        me = register_worker(app, first, concurrency=2)
        rows = claim(app, first, me, 2)
        records = [_success(r, r["args"][0] + r["args"][1]) for r in rows]
        with conns[0].transaction():
            app.queries.task_finish(first, [records[0]])
            racer = threading.Thread(target=app.queries.task_finish, args=(second, [records[1]]))
            racer.start()
            racer.join(timeout=0.5)
            assert racer.is_alive()  # waiting for the chord row the first transaction holds
        racer.join(timeout=10)
    finally:
        for conn in conns:
            conn.close()
    tasks = handle.tasks()
    assert [t.workflow_step for t in tasks] == [0, 1, 2]
    assert tasks[2].args == [[2, 4]] and tasks[2].status is TaskStatus.PENDING
    app.run_worker(burst=True)
    assert handle.result(timeout=10) == 6
