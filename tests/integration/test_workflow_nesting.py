"""Nested canvases, as Celery users write them: a group inside a chain (gathered like a chord
when a step follows it), chains inside a group, chains as a chord's members or callback, a
chord inside a chain or a group. Each runs on a real worker; links are written with the
step's end (atomic with it, never twice), and a failure inside a nested part stops what
follows it and is named by the handle."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest
from claims import claim, register_worker

from pq import PQ, ConfigurationError, TaskStatus, WorkflowFailedError, chain, chord, group
from pq.models import OutcomeKind
from pq.store.db import PsycopgExecutor
from pq.worker.attempt import finish_record
from pq.worker.outcome import Outcome, Usage
from taskmods import flowapp


def _tasks(app: PQ) -> tuple[Any, ...]:
    return tuple(app.task(f) for f in (flowapp.add, flowapp.mul, flowapp.total, flowapp.constant))


def test_a_group_inside_a_chain_hands_the_list_of_its_results_to_the_next_step(
    app: PQ,
) -> None:
    add, mul, total, _ = _tasks(app)
    handle = chain(add.s(1, 2), group(mul.s(10), add.s(5)), total.s(), add.s(1)).delay()
    app.run_worker(burst=True)
    assert handle.result(timeout=10) == 30 + 8 + 1
    rows = {t.workflow_step: t for t in handle.tasks()}
    assert [rows[n].args for n in range(5)] == [[1, 2], [3, 10], [3, 5], [[30, 8]], [38, 1]]
    assert {t.workflow_id for t in rows.values()} == {handle.id}


def test_a_chain_ending_in_a_group_returns_the_groups_results(app: PQ) -> None:
    add, mul, _, _ = _tasks(app)
    handle = (add.s(1, 1) | group(mul.s(3), mul.s(4), group(mul.s(5)))).delay()
    app.run_worker(burst=True)
    assert handle.result(timeout=10) == [6, 8, 10]  # a group in a group is flattened


def test_a_wide_group_inside_a_chain_gathers_every_member_once_on_four_slots(app: PQ) -> None:
    add, mul, total, _ = _tasks(app)
    members = [chain(add.s(i), mul.s(2)) if i % 2 else add.s(i) for i in range(60)]
    handle = chain(add.s(0, 1), group(members), total.s()).delay()
    app.run_worker(concurrency=4, burst=True)
    expected = [(1 + i) * 2 if i % 2 else 1 + i for i in range(60)]
    assert handle.result(timeout=30) == sum(expected)
    callbacks = [t for t in handle.tasks() if t.name == total.name]
    assert len(callbacks) == 1 and callbacks[0].args == [expected]


def test_chains_inside_a_group_give_each_chains_last_result(app: PQ) -> None:
    add, mul, _, _ = _tasks(app)
    handle = group(chain(add.s(1, 2), mul.s(10)), chain(add.s(5, 5), mul.s(2)), add.s(0, 1))
    started = handle.delay()
    assert len(started) == 3
    app.run_worker(burst=True)
    assert started.results(timeout=10) == [30, 20, 1]
    assert started.get(timeout=10) == [30, 20, 1]  # Celery's GroupResult.get()


def test_chains_as_a_chords_members_and_callback(app: PQ) -> None:
    add, mul, total, _ = _tasks(app)
    handle = chord(
        [chain(add.s(1, 1), mul.s(10)), chain(add.s(2, 2), mul.s(10), add.s(1))],
        chain(total.s(), mul.s(2)),
    ).delay()
    app.run_worker(burst=True)
    assert handle.results(timeout=10) == [20, 41]
    assert handle.result(timeout=10) == 122
    assert handle.get(timeout=10) == 122  # Celery's .get(): the callback's value
    callback = [t for t in handle.tasks() if t.args == [[20, 41]]]
    assert len(callback) == 1  # the callback ran once, with the chains' last results


def test_a_chord_inside_a_chain_and_inside_a_group(app: PQ) -> None:
    add, mul, total, _ = _tasks(app)
    inner = chord([mul.s(2), mul.s(3)], total.s())
    in_chain = chain(add.s(1, 1), inner, add.s(100)).delay()
    in_group = group(chord([add.s(1, 1), add.s(2, 2)], total.s()), add.s(5, 5)).delay()
    gathered = chord([chord([add.s(1, 1), add.s(2, 2)], total.s()), add.s(4, 4)], total.s())
    nested = gathered.delay()
    app.run_worker(burst=True)
    assert in_chain.result(timeout=10) == 2 * 2 + 2 * 3 + 100
    assert in_group.results(timeout=10) == [6, 10]
    assert nested.result(timeout=10) == 6 + 8


def test_a_chord_whose_callback_is_a_group_gives_each_member_the_list(app: PQ) -> None:
    add, mul, total, _ = _tasks(app)
    handle = chord([add.s(1, 1), add.s(2, 2)], group(total.s(), mul.s(2))).delay()
    app.run_worker(burst=True)
    assert handle.result(timeout=10) == [6, [2, 4, 2, 4]]


def test_two_groups_in_one_chain_each_gather_before_the_next_step(app: PQ) -> None:
    add, mul, total, _ = _tasks(app)
    handle = chain(
        add.s(1, 1), group(mul.s(2), mul.s(3)), total.s(), group(mul.s(1), mul.s(2)), total.s()
    ).delay()
    app.run_worker(burst=True)
    assert handle.result(timeout=10) == 30
    assert handle.length == 5


def test_immutable_signatures_ignore_the_previous_value_inside_nested_parts(app: PQ) -> None:
    add, mul, total, constant = _tasks(app)
    members = chain(add.s(1, 2), group(constant.si(7), mul.s(10)), total.s()).delay()
    callback = chain(add.s(1, 1), group(mul.s(2), mul.s(3)), constant.si(9)).delay()
    app.run_worker(burst=True)
    assert members.result(timeout=10) == 7 + 30
    assert callback.result(timeout=10) == 9


def test_a_failed_member_of_a_group_inside_a_chain_stops_the_chain(app: PQ) -> None:
    add, mul, total, _ = _tasks(app)
    boom = app.task(flowapp.boom)
    handle = chain(add.s(1, 2), group(boom.s(), mul.s(10)), total.s()).delay()
    app.run_worker(burst=True)
    with pytest.raises(
        WorkflowFailedError,
        match=r"chain \d+ failed at step 2 of 3: 1 of 2 member\(s\) failed: member 0: "
        r".*boom.*boom on 3; the steps after it did not run",
    ) as failure:
        handle.result(timeout=10)
    assert [t.name for t in failure.value.failed] == [boom.name]
    returned = handle.get(timeout=10, propagate=False)
    assert isinstance(returned, WorkflowFailedError) and "step 2 of 3" in str(returned)
    statuses = {t.workflow_step: t.status for t in handle.tasks()}
    assert statuses == {0: TaskStatus.COMPLETED, 1: TaskStatus.FAILED, 2: TaskStatus.COMPLETED}


def test_a_failed_member_retried_by_an_operator_continues_the_chain_once(
    app: PQ, tmp_path: Path
) -> None:
    add, mul, total, _ = _tasks(app)
    until_fixed = app.task(flowapp.until_fixed)
    fixed = tmp_path / "fixed"
    handle = chain(add.s(1, 2), group(until_fixed.s(str(fixed)), mul.s(10)), total.s()).delay()
    app.run_worker(burst=True)
    with pytest.raises(WorkflowFailedError, match="not fixed yet"):
        handle.result(timeout=10)
    fixed.touch()
    (failed,) = [t for t in handle.tasks() if t.status is TaskStatus.FAILED]
    assert app.retry([failed.id]) == 1
    app.run_worker(burst=True)
    assert handle.result(timeout=10) == 3 + 30
    assert len(handle.tasks()) == 4  # the callback was written once


def test_a_failed_step_of_a_chain_inside_a_group_is_named_with_its_place(app: PQ) -> None:
    add, _, _, _ = _tasks(app)
    boom = app.task(flowapp.boom)
    handle = group(chain(add.s(1, 2), boom.s(), add.s(1)), add.s(1, 1)).delay()
    app.run_worker(burst=True)
    with pytest.raises(
        WorkflowFailedError, match=r"1 of 2 member\(s\) failed: member 0: step 2 of 3: .*boom on 3"
    ):
        handle.results(timeout=10)
    assert len(handle.tasks()) == 3  # the chain's last step never ran


def test_nestings_pq_cannot_run_are_refused_before_anything_is_written(app: PQ) -> None:
    add, _, total, _ = _tasks(app)
    ends_in_a_group = chain(add.s(1, 1), group(add.s(1), add.s(2)))
    with pytest.raises(ConfigurationError, match=r"End that chain with a task"):
        chord([ends_in_a_group, add.s(1, 1)], total.s()).delay()
    with pytest.raises(ConfigurationError, match=r"End that chain with a task"):
        chain(add.s(1, 1), group(ends_in_a_group, add.s(2, 2)), total.s()).delay()
    with pytest.raises(ConfigurationError, match=r"needs a callback"):
        chain(add.s(1, 1), chord([add.s(1)])).delay()
    with pytest.raises(ConfigurationError, match=r"canvases \(chain, group, chord\), not 5"):
        chain(add.s(1, 1), 5)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match=r"at least one member"):
        chain(add.s(1, 1), group()).delay()
    with app.connect() as conn:
        assert conn.execute("SELECT count(*) FROM pq_tasks").fetchone() == (0,)


def _success(row: dict[str, Any], result: Any) -> dict[str, Any]:
    record = finish_record(row, Outcome(OutcomeKind.SUCCESS, result=result), Usage(0, None, None))
    return json.loads(json.dumps(record, default=str))


def test_a_groups_members_are_written_with_the_record_of_the_step_before_and_only_once(
    app: PQ,
) -> None:
    add, _, total, _ = _tasks(app)
    handle = chain(add.s(1, 2), group(add.s(10), add.s(20)), total.s()).delay()
    with app.connect() as conn:
        conn.autocommit = True
        ex = PsycopgExecutor(conn)
        me = register_worker(app, ex)
        (row,) = claim(app, ex, me, 1)
        record = _success(row, 3)
        with pytest.raises(RuntimeError), conn.transaction():  # the record rolls back ...
            app.queries.task_finish(ex, [record])
            raise RuntimeError("the recording transaction dies")
        assert len(handle.tasks()) == 1  # ... and so do the members
        assert len(app.queries.task_finish(ex, [record])) == 3  # the step and two members
        assert app.queries.task_finish(ex, [record]) == {}  # a late writer: fenced
    steps = handle.tasks()
    assert [(t.workflow_step, t.args) for t in steps] == [(0, [1, 2]), (1, [3, 10]), (2, [3, 20])]
    app.run_worker(burst=True)
    assert handle.result(timeout=10) == 13 + 23


def test_signed_nested_canvases_run_with_a_secret_key(db_url: str) -> None:
    app = PQ(db_url, secret_key="s3cret")
    try:
        add, mul, total, constant = _tasks(app)
        handle = chain(
            add.s(1, 2), group(chain(mul.s(10), add.s(1)), constant.si(4)), total.s()
        ).delay()
        app.run_worker(burst=True)
        assert handle.result(timeout=10) == 31 + 4
    finally:
        app.close()


def test_workflow_rows_written_before_nesting_still_link_as_they_did(app: PQ) -> None:
    """A worker upgraded while chains and chords of the previous version are in flight: their
    rows hold templates without `step`/`flow`, chord members without `member`, and a chord
    callback with its chain in `next`."""
    add, mul, total = (app.task(f) for f in (flowapp.add, flowapp.mul, flowapp.total))
    old_chain = [add.s(1, 2).template(), mul.s(10).template(linked=True)]
    members = [add.s(1, 1).template(), add.s(2, 2).template()]
    callback = {**total.s().template(linked=True), "next": [mul.s(3).template(linked=True)]}
    with app.executor(None) as ex:
        chain_id, chain_ids, _, now = app.queries.flow_reserve(ex, 1)
        chord_id, chord_ids, _, _ = app.queries.flow_reserve(ex, 2)
        app.queries.flow_chord_create(ex, chord_id, 2, json.dumps(callback))
        rows = [
            (chain_ids[0], old_chain[0], chain_id, 0, {"next": old_chain[1:]}),
            (chord_ids[0], members[0], chord_id, 0, {"chord": chord_id}),
            (chord_ids[1], members[1], chord_id, 1, {"chord": chord_id}),
        ]
        app.queries.flow_copy(
            ex,
            [
                (
                    *(i, t["name"], t["queue"], t["priority"], "pending"),
                    *(json.dumps(t[k]) for k in ("args", "kwargs", "options")),
                    *(now, t["max_attempts"], workflow, step, json.dumps(flow), None, None, None),
                )
                for i, t, workflow, step, flow in rows
            ],
        )
    app.run_worker(burst=True)
    with app.connect() as conn:
        found = conn.execute(
            "SELECT workflow_id, workflow_step, args, result, status FROM pq_tasks "
            "ORDER BY workflow_id, workflow_step"
        ).fetchall()
    assert [(w, s, a, r) for w, s, a, r, _ in found] == [
        (chain_id, 0, [1, 2], 3),
        (chain_id, 1, [3, 10], 30),
        (chord_id, 0, [1, 1], 2),
        (chord_id, 1, [2, 2], 4),
        (chord_id, 2, [[2, 4]], 6),
        (chord_id, 3, [6, 3], 18),
    ]
    assert {status for *_, status in found} == {"completed"}


@pytest.mark.parametrize("held", [0, 3], ids=["first-barrier-held", "second-barrier-held"])
def test_members_of_two_barriers_recorded_at_once_in_crossing_orders_do_not_deadlock(
    app: PQ, held: int
) -> None:
    """A group of two chords; two workers each record a member of both barriers, listed in
    opposite orders, while a third session holds one barrier. Each recording locks its
    barriers in id order, so neither holds one while it waits for the other (which Postgres
    would end as a deadlock) and both go through once the holder lets go."""
    add, _, total, _ = _tasks(app)
    handle = group(
        chord([add.s(1, 1), add.s(2, 2)], total.s()), chord([add.s(3, 3), add.s(4, 4)], total.s())
    ).delay()
    conns = [app.connect() for _ in range(3)]
    try:
        for conn in conns[:2]:
            conn.autocommit = True
        workers = [PsycopgExecutor(c) for c in conns[:2]]
        me = register_worker(app, workers[0], concurrency=4)
        rows = claim(app, workers[0], me, 4)
        by_step = {r["workflow_step"]: _success(r, sum(r["args"])) for r in rows}
        # steps 0, 1 gather in the first barrier, 3, 4 in the second (2 and 5: callbacks)
        batches = [[by_step[0], by_step[3]], [by_step[4], by_step[1]]]
        errors: list[BaseException] = []

        def record(ex: PsycopgExecutor, batch: list[dict[str, Any]]) -> None:
            try:
                app.queries.task_finish(ex, batch)
            except BaseException as exc:  # a deadlock victim: reported below
                errors.append(exc)

        holder = conns[2]
        with holder.transaction():
            holder.execute(
                "SELECT 1 FROM pq_chords WHERE id = (SELECT (flow->>'chord')::bigint "
                "FROM pq_tasks WHERE id = %s) FOR UPDATE",
                (by_step[held]["id"],),
            )
            racers = [
                threading.Thread(target=record, args=(ex, batch))
                for ex, batch in zip(workers, batches, strict=True)
            ]
            for racer in racers:
                racer.start()
            for racer in racers:
                racer.join(timeout=0.5)
            assert all(r.is_alive() for r in racers)  # both wait for the held barrier
        for racer in racers:
            racer.join(timeout=10)
        assert not any(r.is_alive() for r in racers) and errors == []
    finally:
        for conn in conns:
            conn.close()
    assert sorted(t.workflow_step for t in handle.tasks()) == [0, 1, 2, 3, 4, 5]
    app.run_worker(burst=True)
    assert handle.results(timeout=10) == [6, 14]
