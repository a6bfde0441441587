"""One idle worker per queue set listens (pq/worker/slot.py): what a user must not notice.

A task enqueued while idle workers wait starts within moments, never after a poll, and runs
once: when the listening worker is busy with a long task (it hands the slot to an idle
worker), and after it was killed with SIGKILL (the kernel lets its slot go). The workers
poll only every 60 s, so a task that depended on a poll would wait a minute. A cancel
reaches a task running on a worker that does not listen (the holder relays it) long before
that worker's heartbeat would have found it.
"""

from __future__ import annotations

from pathlib import Path

import psycopg
from sessions import task_listeners
from workerproc import WorkerProcess, registered_workers, workers

from pq import PQ
from taskmods import e2eapp
from waiting import wait_until

ENV = {"PQ_POLL_INTERVAL": "60"}
BOUND = 15.0  # far below the poll interval, far above a handover on a loaded machine


def _status(db_url: str, task_id: int) -> tuple[str, int]:
    with psycopg.connect(db_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT status, attempts FROM pq_tasks WHERE id = %s", (task_id,)
        ).fetchone()
    assert row is not None
    return str(row[0]), int(row[1])


def _run_one(app: PQ, db_url: str, queue: str = "default") -> int:
    """Enqueues a quick task, waits for it to complete; returns the pid of the worker that
    ran it (the task returns its parent's pid)."""
    task_id = app.enqueue(e2eapp.slow, 0, queue=queue)
    wait_until(lambda: _status(db_url, task_id)[0] == "completed", timeout=BOUND)
    assert _status(db_url, task_id) == ("completed", 1)  # claimed once
    task = app.get_task(task_id)
    assert task is not None
    return int(task.result)


def _one_listener(db_url: str, count: int) -> None:
    wait_until(lambda: registered_workers(db_url) == count, timeout=60)
    wait_until(lambda: task_listeners(db_url) == 1, timeout=60)


def test_a_task_reaches_an_idle_worker_while_the_listener_runs_a_long_one(
    app: PQ, db_url: str, tmp_path: Path
) -> None:
    with workers(db_url, tmp_path, 3, "--concurrency", "1", env=ENV) as procs:
        _one_listener(db_url, 3)
        long_id = app.enqueue(e2eapp.slow, 3600)  # the listener takes it: nobody else hears
        wait_until(lambda: _status(db_url, long_id)[0] == "running", timeout=BOUND)
        busy = _worker_of(db_url, long_id)
        ran_on = {_run_one(app, db_url) for _ in range(6)}
        assert busy not in ran_on  # none waited behind the long task
        assert ran_on <= {p.pid for p in procs}
        assert _status(db_url, long_id)[0] == "running"


def test_a_task_reaches_idle_workers_after_the_listener_is_killed(
    app: PQ, db_url: str, tmp_path: Path
) -> None:
    with workers(db_url, tmp_path, 3, "--concurrency", "1", env=ENV) as procs:
        _one_listener(db_url, 3)
        listener = _process(procs, _run_one(app, db_url))  # only the listener heard it
        listener.kill()  # SIGKILL: no goodbye, its slot goes with the process
        ran_on = {_run_one(app, db_url) for _ in range(6)}
        assert listener.pid not in ran_on
        wait_until(lambda: task_listeners(db_url) == 1, timeout=BOUND)  # one listens again


def _worker_of(db_url: str, task_id: int) -> int:
    """The pid of the worker running a task."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT w.pid FROM pq_tasks t JOIN pq_workers w ON w.id = t.worker_id WHERE t.id = %s",
            (task_id,),
        ).fetchone()
    assert row is not None
    return int(row[0])


def _process(procs: list[WorkerProcess], pid: int) -> WorkerProcess:
    return next(p for p in procs if p.pid == pid)


def test_workers_of_other_queues_hold_slots_of_their_own(
    app: PQ, db_url: str, tmp_path: Path
) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with (
        workers(db_url, tmp_path / "a", 2, "--queue", "a", env=ENV) as serving_a,
        workers(db_url, tmp_path / "b", 2, "--queue", "b", env=ENV) as serving_b,
    ):
        wait_until(lambda: registered_workers(db_url) == 4, timeout=60)
        wait_until(lambda: task_listeners(db_url) == 2, timeout=60)  # one per queue set
        for queue, procs in (("a", serving_a), ("b", serving_b), ("a", serving_a)):
            assert _run_one(app, db_url, queue) in {p.pid for p in procs}


def test_a_cancel_reaches_a_task_on_a_worker_that_does_not_listen(
    app: PQ, db_url: str, tmp_path: Path
) -> None:
    # The heartbeat reads cancel requests too (the fallback for a missed notice): every 60 s
    # here, so only the relayed notice can end the task within BOUND.
    env = {**ENV, "PQ_HEARTBEAT_INTERVAL": "60", "PQ_LEASE": "240"}
    with workers(db_url, tmp_path, 2, "--concurrency", "1", env=env):
        _one_listener(db_url, 2)
        first = app.enqueue(e2eapp.slow, 3600)  # the listener takes it, then hands over
        wait_until(lambda: _status(db_url, first)[0] == "running", timeout=BOUND)
        second = app.enqueue(e2eapp.slow, 3600)  # the other worker, now listening, takes it
        wait_until(lambda: _status(db_url, second)[0] == "running", timeout=BOUND)
        assert _worker_of(db_url, first) != _worker_of(db_url, second)
        # The first one's worker watches the slot's new holder and no longer listens.
        wait_until(lambda: task_listeners(db_url) == 1, timeout=BOUND)
        assert app.cancel(first)
        wait_until(lambda: _status(db_url, first)[0] == "cancelled", timeout=BOUND)
        assert _status(db_url, second)[0] == "running"
