"""Rescue of lost workers' tasks, and release of claims a broken connection swallowed."""

from __future__ import annotations

from typing import Any

import psycopg
from claims import register_worker

from pq import PQ, OutcomeKind, TaskStatus
from pq.store.db import PsycopgExecutor
from pq.worker.fleet import release_unowned_tasks, rescue_lost_tasks
from pq.worker.loop import Hooks, build_worker_settings
from taskmods import funcs


def register(app: PQ, ex: PsycopgExecutor, lease: float = 30) -> int:
    return register_worker(app, ex, lease=lease, host="elsewhere")


def claim_as(app: PQ, ex: PsycopgExecutor, worker_id: int) -> list[dict[str, Any]]:
    return app.queries.task_claim(
        ex, worker_id=worker_id, limit=10, queues=["default"], priorities=None
    )


def silence(db_url: str, worker_id: int) -> None:
    """Makes a worker's last heartbeat an hour old, as if its host had died."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(
            "UPDATE pq_workers SET last_heartbeat_at = now() - interval '1 hour' WHERE id = %s",
            (worker_id,),
        )


def test_a_worker_rescues_and_runs_the_tasks_of_a_silent_worker(app: PQ, db_url: str) -> None:
    retried = app.task(funcs.add, retries=1).delay(1, 2)
    once = app.enqueue(funcs.noop)
    with psycopg.connect(db_url, autocommit=True) as conn:
        ex = PsycopgExecutor(conn)
        dead = register(app, ex)
        assert len(claim_as(app, ex, dead)) == 2
    silence(db_url, dead)

    app.run_worker(burst=True)

    task = retried.snapshot()
    assert task.status is TaskStatus.COMPLETED and task.result == 3
    assert [a.outcome for a in task.history] == [OutcomeKind.LOST, OutcomeKind.SUCCESS]
    failed = app.get_task(once)
    assert failed is not None and failed.status is TaskStatus.FAILED
    assert failed.outcome is OutcomeKind.LOST
    assert f"worker {dead} stopped heartbeating" in (failed.error or "")


def test_the_tasks_of_a_worker_within_its_lease_are_left_alone(app: PQ, db_url: str) -> None:
    task_id = app.enqueue(funcs.noop)
    with psycopg.connect(db_url, autocommit=True) as conn:
        ex = PsycopgExecutor(conn)
        alive = register(app, ex, lease=3600)
        claim_as(app, ex, alive)
        assert rescue_lost_tasks(app.queries, ex, rescuer=alive) == 0
    assert app.get_task(task_id).status is TaskStatus.RUNNING  # type: ignore[union-attr]


def test_a_rescued_attempt_cannot_be_recorded_by_its_old_worker(app: PQ, db_url: str) -> None:
    task_id = app.task(funcs.noop, retries=1).delay().id
    with psycopg.connect(db_url, autocommit=True) as conn:
        ex = PsycopgExecutor(conn)
        dead = register(app, ex)
        (row,) = claim_as(app, ex, dead)
        silence(db_url, dead)
        rescuer = register(app, ex)
        assert rescue_lost_tasks(app.queries, ex, rescuer) == 1
        (again,) = claim_as(app, ex, rescuer)
        assert again["attempts"] == 2
        late = {
            "id": task_id,
            "attempt": row["attempts"],
            "worker_id": dead,
            "status": "completed",
            "outcome": "success",
            "error": None,
            "result": None,
            "retry_at": None,
            "record": {"attempt": 1, "outcome": "success"},
        }
        assert app.queries.task_finish(ex, [late]) == {}
    task = app.get_task(task_id)
    assert task is not None and task.status is TaskStatus.RUNNING and task.attempts == 2
    assert [a.outcome for a in task.history] == [OutcomeKind.LOST]


def test_a_claim_whose_reply_was_lost_is_handed_back_after_reconnecting(
    app: PQ, db_url: str
) -> None:
    kept = app.enqueue(funcs.noop)
    swallowed = app.task(funcs.noop, retries=2).delay().id
    with psycopg.connect(db_url, autocommit=True) as conn:
        ex = PsycopgExecutor(conn)
        me = register(app, ex)
        claim_as(app, ex, me)
        assert release_unowned_tasks(app.queries, ex, me, keep=[kept]) == 1
    assert app.get_task(kept).status is TaskStatus.RUNNING  # type: ignore[union-attr]
    task = app.get_task(swallowed)
    assert task is not None and task.status is TaskStatus.PENDING
    assert task.history[0].outcome is OutcomeKind.LOST


def test_a_poll_only_worker_still_runs_tasks(app: PQ) -> None:
    task_id = app.enqueue(funcs.add, 4, 5)

    app.run_worker_with(build_worker_settings(burst=True, poll_only=True), Hooks())

    task = app.get_task(task_id)
    assert task is not None and task.result == 9


def test_an_upsert_parked_on_a_lost_workers_task_runs_after_the_rescue(
    app: PQ, db_url: str
) -> None:
    first = app.upsert(funcs.add, 1, 1, client_id="totals")
    with psycopg.connect(db_url, autocommit=True) as conn:
        ex = PsycopgExecutor(conn)
        dead = register(app, ex)
        (claimed,) = claim_as(app, ex, dead)
    assert claimed["id"] == first
    app.upsert(funcs.add, 20, 22, client_id="totals")  # parked: the row is running
    silence(db_url, dead)

    app.run_worker(burst=True)

    task = app.get_task_by_client_id("totals")
    assert task is not None and task.id == first
    assert task.status is TaskStatus.COMPLETED and task.result == 42  # the parked version ran
    assert [a.outcome for a in task.history] == [OutcomeKind.LOST, OutcomeKind.SUCCESS]
    assert task.history[0].worker_id == dead


def test_workers_stopped_over_a_day_ago_are_forgotten(app: PQ, db_url: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        ex = PsycopgExecutor(conn)
        old, recent, me = register(app, ex), register(app, ex), register(app, ex)
        conn.execute(
            "UPDATE pq_workers SET stopped_at = now() - interval '2 days' WHERE id = %s", (old,)
        )
        conn.execute("UPDATE pq_workers SET stopped_at = now() WHERE id = %s", (recent,))
        rescue_lost_tasks(app.queries, ex, rescuer=me)
        left = {r[0] for r in conn.execute("SELECT id FROM pq_workers").fetchall()}
    assert left == {recent, me}
