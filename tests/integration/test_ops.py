"""The operator library: listing tasks and workers, queue statistics, retry, purge, delete,
pause and resume (app.list_tasks, app.queue_stats, app.retry, ...)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from worker_procs import running_workers

from pq import PQ, TaskStatus
from pq.errors import ConfigurationError
from pq.ops import WorkerState
from taskmods import funcs, opsapp
from waiting import wait_until


def _ops_app(db_url: str) -> PQ:
    opsapp.app.close()
    opsapp.app._url = db_url  # the shared app module, pointed at this test's database
    return opsapp.app


@pytest.fixture
def ops(db_url: str) -> PQ:
    app = _ops_app(db_url)
    yield app
    app.close()


def test_list_tasks_filters_by_status_queue_name_and_age_newest_first(ops: PQ) -> None:
    ok_ids = [opsapp.ok.delay(i).id for i in range(3)]
    email = opsapp.send.delay("a@b.c").id
    bad = opsapp.boom.delay().id
    ops.run_worker(burst=True, queues=["default"])  # emails stays pending

    assert [t.id for t in ops.list_tasks()] == sorted([*ok_ids, email, bad], reverse=True)
    assert [t.id for t in ops.list_tasks(status="failed")] == [bad]
    assert [t.id for t in ops.list_tasks(status=["pending", "failed"])] == [bad, email]
    assert [t.id for t in ops.list_tasks(queue="emails")] == [email]
    assert [t.id for t in ops.list_tasks(name="ok")] == ok_ids[::-1]  # the short name works
    assert [t.id for t in ops.list_tasks(name="taskmods.opsapp:send")] == [email]
    assert ops.list_tasks(since=timedelta(hours=1), limit=2)[0].id == bad
    assert ops.list_tasks(since=datetime.now(UTC) + timedelta(hours=1)) == []
    failed = ops.list_tasks(status="failed")[0]
    assert "ValueError: boom" in (failed.error or "") and failed.history[0].outcome == "exception"


def test_list_tasks_pages_with_before_id(ops: PQ) -> None:
    ids = [opsapp.ok.delay(i).id for i in range(7)]
    seen: list[int] = []
    before = None
    while page := ops.list_tasks(limit=3, before_id=before):
        seen += [t.id for t in page]
        before = page[-1].id
    assert seen == ids[::-1]


def test_list_tasks_refuses_an_unknown_status(ops: PQ) -> None:
    with pytest.raises(ConfigurationError, match="faild"):
        ops.list_tasks(status="faild")


def test_a_task_result_reads_decoded_everywhere(ops: PQ) -> None:
    task_id = ops.enqueue(funcs.add, 1, 2)
    pickled = opsapp.ok.delay(3).id
    ops.run_worker(burst=True)
    assert ops.get_task(task_id).result == 3  # type: ignore[union-attr]
    assert ops.list_tasks(name="add")[0].result == 3
    assert ops.get_task(pickled).result == 6  # type: ignore[union-attr]


def test_retry_runs_a_failed_task_again_and_keeps_its_history(ops: PQ, tmp_path: Path) -> None:
    marker = tmp_path / "fixed"
    task_id = ops.enqueue(opsapp.fails_until_marker, str(marker))
    ops.run_worker(burst=True)
    assert ops.get_task(task_id).status is TaskStatus.FAILED  # type: ignore[union-attr]

    marker.write_text("")
    assert ops.retry([task_id]) == 1
    assert ops.retry([task_id]) == 0  # pending now: not retried twice
    ops.run_worker(burst=True)

    task = ops.get_task(task_id)
    assert task is not None and task.status is TaskStatus.COMPLETED and task.result == "fixed"
    assert [a.outcome for a in task.history] == ["exception", "success"]
    assert task.attempts == 2


def test_retry_failed_takes_filters_and_works_in_batches(ops: PQ) -> None:
    bad = [opsapp.boom.delay(f"n{i}").id for i in range(5)]
    other = ops.enqueue(funcs.fail, "other")
    ops.run_worker(burst=True)
    batches: list[int] = []

    assert ops.retry(failed=True, name="boom", batch_size=2, progress=batches.append) == 5
    assert batches == [2, 2, 1]
    pending = {t.id for t in ops.list_tasks(status="pending")}
    assert pending == set(bad)
    assert ops.get_task(other).status is TaskStatus.FAILED  # type: ignore[union-attr]
    with pytest.raises(ConfigurationError, match="failed=True"):
        ops.retry()


def test_retry_failed_leaves_tasks_that_ended_after_it_started(ops: PQ, db_url: str) -> None:
    # A task that fails again while a long retry runs must not be retried over and over by
    # that same call: rows that ended after the call started are left alone.
    task_id = opsapp.boom.delay().id
    ops.run_worker(burst=True)
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("UPDATE pq_tasks SET finished_at = now() + interval '1 minute'")
    assert ops.retry(failed=True) == 0
    assert ops.retry([task_id]) == 0  # the same rule for ids
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("UPDATE pq_tasks SET finished_at = now() - interval '1 minute'")
    assert ops.retry(failed=True) == 1


def test_cancel_many_cancels_pending_ones_and_says_which(ops: PQ) -> None:
    ids = [opsapp.ok.delay(i).id for i in range(3)]
    done = opsapp.ok.delay(9).id
    ops.run_worker_once(queues=["default"])  # runs the oldest... of the highest priority
    first = ids[0]
    assert ops.get_task(first).status is TaskStatus.COMPLETED  # type: ignore[union-attr]
    assert ops.cancel_many([*ids, done, 999_999]) == [ids[1], ids[2], done]


def test_purge_deletes_one_queue_and_status_in_batches(ops: PQ) -> None:
    for i in range(5):
        opsapp.send.delay(f"{i}@x")
    keep = opsapp.ok.delay(1).id
    assert ops.purge("emails", batch_size=2) == 5
    assert [t.id for t in ops.list_tasks()] == [keep]
    with pytest.raises(ConfigurationError, match="cancel running"):
        ops.purge("emails", status="running")


def test_delete_task_removes_an_ended_or_pending_task_but_not_a_running_one(
    ops: PQ, db_url: str
) -> None:
    task_id = opsapp.ok.delay(1).id
    running = opsapp.ok.delay(2).id
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("UPDATE pq_tasks SET status = 'running' WHERE id = %s", (running,))
    assert ops.delete_task(task_id) is True
    assert ops.get_task(task_id) is None
    assert ops.delete_task(task_id) is False
    assert ops.delete_task(running) is False


def test_a_paused_queue_is_not_claimed_until_resumed_and_the_pause_persists(ops: PQ) -> None:
    email = opsapp.send.delay("a@b.c").id
    other = opsapp.ok.delay(1).id
    assert ops.pause_queue("emails") is True
    assert ops.pause_queue("emails") is False
    assert ops.paused_queues() == ["emails"]

    ops.run_worker(burst=True, queues=["default", "emails"])
    assert ops.get_task(other).status is TaskStatus.COMPLETED  # type: ignore[union-attr]
    assert ops.get_task(email).status is TaskStatus.PENDING  # type: ignore[union-attr]
    ops.run_worker(burst=True, queues=["emails"])  # a later worker: still paused
    assert ops.get_task(email).status is TaskStatus.PENDING  # type: ignore[union-attr]
    assert [s.paused for s in ops.queue_stats() if s.queue == "emails"] == [True]

    assert ops.resume_queue("emails") is True
    assert ops.resume_queue("emails") is False
    ops.run_worker(burst=True, queues=["emails"])
    assert ops.get_task(email).status is TaskStatus.COMPLETED  # type: ignore[union-attr]


def test_queue_stats_counts_pending_running_and_recent_ends_per_queue_and_priority(
    ops: PQ, db_url: str
) -> None:
    for i in range(3):
        opsapp.ok.delay(i)
    opsapp.boom.delay()
    ops.run_worker(burst=True)
    opsapp.ok.delay(10)  # due
    opsapp.ok.apply_async((11,), countdown=3600)  # scheduled later
    opsapp.send.apply_async(("x",), priority="high")
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(
            "UPDATE pq_tasks SET run_at = now() - interval '90 seconds' WHERE args = '[10]'"
        )

    stats = {(s.queue, s.priority): s for s in ops.queue_stats()}
    default = stats[("default", 50)]
    assert (default.due, default.scheduled, default.pending, default.running) == (1, 1, 2, 0)
    assert default.oldest_due_age is not None and default.oldest_due_age >= 89
    assert (default.completed_1m, default.completed_15m, default.failed_5m) == (3, 3, 1)
    assert default.failure_rate == pytest.approx(0.25)
    assert default.p50_runtime is not None and default.p95_runtime >= default.p50_runtime  # type: ignore[operator]
    assert stats[("emails", 75)].due == 1 and stats[("emails", 75)].failure_rate is None
    assert "failure_rate" in default.model_dump()


def test_list_workers_shows_alive_lost_and_stopped_workers(
    ops: PQ, db_url: str, tmp_path: Path
) -> None:
    task_id = opsapp.nap.delay(30).id
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO pq_workers (host, pid, version, queues, concurrency, lease_seconds,"
            " last_heartbeat_at, stopped_at) VALUES"
            " ('gone', 1, '0', '{default}', 1, 30, now() - interval '5 minutes', now()),"
            " ('old', 2, '0', '{default}', 1, 30, now() - interval '3 hours',"
            "  now() - interval '3 hours'),"
            " ('clean', 3, '0', '{a,b}', 4, 30, now(), now())"
        )
    with running_workers(db_url, 1, tmp_path, app="taskmods.opsapp:app", args=["-c", "2"]):
        wait_until(lambda: ops.get_task(task_id).status is TaskStatus.RUNNING, timeout=30)  # type: ignore[union-attr]
        workers = ops.list_workers()
        by_host = {w.host: w for w in workers}
        assert "old" not in by_host  # stopped more than an hour ago
        assert by_host["gone"].state is WorkerState.LOST
        assert by_host["clean"].state is WorkerState.STOPPED
        assert by_host["clean"].queues == ["a", "b"] and by_host["clean"].concurrency == 4
        (alive,) = [w for w in workers if w.state is WorkerState.ALIVE]
        assert alive.running == [task_id] and alive.concurrency == 2
        assert alive.heartbeat_age < 30
        assert {w.host for w in ops.list_workers(include_stopped_since=None)} == {alive.host}
        ops.cancel(task_id)
    (stopped,) = [w for w in ops.list_workers() if w.id == alive.id]
    assert stopped.state is WorkerState.STOPPED and stopped.running == []
