"""The crash matrix: real `pq worker` processes, hurt in every way docs/reliability.md lists."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import psycopg
import pytest
from workerproc import WorkerProcess, kill_orphans, registered_workers, terminate_backends, workers

import pq
from pq import PQ, OutcomeKind, TaskStatus
from taskmods import api, e2eapp, funcs
from waiting import wait_until


def status_of(app: PQ, task_id: int) -> TaskStatus:
    task = app.get_task(task_id)
    assert task is not None
    return task.status


def test_kill_9_of_a_child_fails_that_task_and_the_worker_goes_on(
    app: PQ, db_url: str, tmp_path: Path
) -> None:
    victim = app.enqueue(e2eapp.slow_no_retry, 60)
    with workers(db_url, tmp_path) as (worker,):
        child = wait_until(worker.children, timeout=20)[0]
        os.kill(child, signal.SIGKILL)
        wait_until(lambda: status_of(app, victim) is TaskStatus.FAILED, timeout=20)
        after = app.enqueue(funcs.add, 2, 2)
        wait_until(lambda: status_of(app, after) is TaskStatus.COMPLETED, timeout=20)
        assert worker.proc.poll() is None
    task = app.get_task(victim)
    assert task is not None and task.outcome is OutcomeKind.MEMORY  # a SIGKILL pq did not send
    assert "SIGKILL" in (task.error or "")


def _oldest(pids: list[int]) -> int:
    """The child forked first (start time, field 22 of /proc/<pid>/stat)."""
    return min(
        pids, key=lambda pid: int(Path(f"/proc/{pid}/stat").read_text().rsplit(")")[-1].split()[19])
    )


@pytest.mark.parametrize(
    "mode", [("--spares", "1"), ("--tasks-per-child", "5")], ids=["spares", "reuse"]
)
def test_kill_9_of_a_spare_run_or_reused_child_fails_only_its_task(
    app: PQ, db_url: str, tmp_path: Path, mode: tuple[str, str]
) -> None:
    started = tmp_path / "started"
    victim = app.enqueue(api.announce_then_sleep, str(started), 60)
    with workers(db_url, tmp_path, 1, *mode) as (worker,):
        # Wait for the task's code, not only its row: a child killed before the row reached
        # it ran nothing, and the worker rightly runs the task in a fresh child instead.
        wait_until(started.exists, timeout=20)
        # With spares, the waiting spare forked after the task's child is a child too.
        children = wait_until(
            lambda: len(c := worker.children()) == (2 if mode[0] == "--spares" else 1) and c,
            timeout=20,
        )
        os.kill(_oldest(children), signal.SIGKILL)
        wait_until(lambda: status_of(app, victim) is TaskStatus.FAILED, timeout=20)
        after = app.enqueue(funcs.add, 2, 2)
        wait_until(lambda: status_of(app, after) is TaskStatus.COMPLETED, timeout=20)
        assert worker.proc.poll() is None
    task = app.get_task(victim)
    assert task is not None and task.outcome is OutcomeKind.MEMORY  # a SIGKILL pq did not send


def test_kill_9_of_a_worker_mid_task_another_worker_rescues_and_reruns(
    app: PQ, db_url: str, tmp_path: Path
) -> None:
    task_id = app.enqueue(e2eapp.slow, 1)  # retries=1: a lost attempt runs again
    first = WorkerProcess(db_url, tmp_path / "first.log")
    try:
        orphans = wait_until(first.children, timeout=20)
    finally:
        first.kill()  # SIGKILL: no drain, no deregistration, no last words
    kill_orphans(orphans)
    with workers(db_url, tmp_path) as (second,):
        task = wait_until(
            lambda: (t := app.get_task(task_id)) and t.status is TaskStatus.COMPLETED and t,
            timeout=30,
        )
        assert task.result == second.pid
        assert [a.outcome for a in task.history] == [OutcomeKind.LOST, OutcomeKind.SUCCESS]
        assert "worker lost" in (task.history[0].error or "")
        assert "was lost during attempt 1" in second.text()


def test_a_lost_worker_without_retries_leaves_a_failed_worker_lost_task(
    app: PQ, db_url: str, tmp_path: Path
) -> None:
    task_id = app.enqueue(e2eapp.slow_no_retry, 30)
    first = WorkerProcess(db_url, tmp_path / "first.log")
    orphans = wait_until(first.children, timeout=20)
    first.kill()
    kill_orphans(orphans)
    with workers(db_url, tmp_path):
        try:
            wait_until(lambda: status_of(app, task_id) is TaskStatus.FAILED, timeout=30)
        except AssertionError:
            print(
                f"--- log of the killed worker:\n{first.text()}\n--- row: {app.get_task(task_id)}"
            )
            raise
    (failed,) = app.list_failed()
    assert failed.outcome is OutcomeKind.LOST and "worker lost" in (failed.error or "")


def test_a_worker_presumed_dead_that_comes_back_cannot_overwrite_the_new_attempt(
    app: PQ, db_url: str, tmp_path: Path
) -> None:
    task_id = app.enqueue(e2eapp.slow, 2)
    frozen = WorkerProcess(db_url, tmp_path / "frozen.log")
    try:
        wait_until(frozen.children, timeout=20)
        frozen.signal(signal.SIGSTOP)  # alive, but silent: its lease runs out
        with workers(db_url, tmp_path) as (rescuer,):
            task = wait_until(
                lambda: (t := app.get_task(task_id)) and t.status is TaskStatus.COMPLETED and t,
                timeout=30,
            )
            frozen.signal(signal.SIGCONT)  # its child finished meanwhile: it tries to record
            wait_until(lambda: "not recorded" in frozen.text(), timeout=20)
            wait_until(lambda: "registered again" in frozen.text(), timeout=20)
        after = app.get_task(task_id)
        assert after is not None
        assert after.result == rescuer.pid == task.result
        assert [a.outcome for a in after.history] == [OutcomeKind.LOST, OutcomeKind.SUCCESS]
        assert after.history[1].worker_id != after.history[0].worker_id
    finally:
        frozen.signal(signal.SIGCONT)
        frozen.kill()


def test_sigterm_drains_running_tasks_then_interrupts_and_deregisters(
    app: PQ, db_url: str, tmp_path: Path
) -> None:
    quick = app.enqueue(e2eapp.slow_no_retry, 0.5)
    stuck = app.enqueue(e2eapp.slow, 60)  # retries=1: the interruption is retried
    with workers(db_url, tmp_path, 1, "--concurrency", "2", "--drain-timeout", "2") as (w,):
        wait_until(lambda: len(w.children()) == 2, timeout=20)
        w.signal(signal.SIGTERM)
        assert w.proc.wait(30) == 0
    assert status_of(app, quick) is TaskStatus.COMPLETED
    task = app.get_task(stuck)
    assert task is not None and task.status is TaskStatus.PENDING
    assert task.history[0].outcome is OutcomeKind.INTERRUPTED
    assert registered_workers(db_url) == 0


def test_a_second_sigterm_kills_running_tasks_at_once(app: PQ, db_url: str, tmp_path: Path) -> None:
    stuck = app.enqueue(e2eapp.slow_no_retry, 60)
    with workers(db_url, tmp_path, 1, "--drain-timeout", "600") as (w,):
        wait_until(w.children, timeout=20)
        w.signal(signal.SIGTERM)
        wait_until(lambda: "signal again" in w.text(), timeout=10)
        w.signal(signal.SIGTERM)
        assert w.proc.wait(30) == 0
    task = app.get_task(stuck)
    assert task is not None and task.outcome is OutcomeKind.INTERRUPTED
    assert task.status is TaskStatus.FAILED
    assert registered_workers(db_url) == 0


def test_pg_terminate_backend_on_every_worker_connection_loses_nothing(
    app: PQ, db_url: str, tmp_path: Path
) -> None:
    running = app.enqueue(e2eapp.slow_no_retry, 1.5)
    with workers(db_url, tmp_path) as (w,):
        wait_until(w.children, timeout=20)
        app.close()  # our own pool is not under test: its sessions would be cut too
        # its work and its LISTEN connection (retried: under load it may be reconnecting)
        wait_until(lambda: terminate_backends(db_url) >= 2, timeout=20)
        wait_until(lambda: status_of(app, running) is TaskStatus.COMPLETED, timeout=30)
        wait_until(lambda: "listener reconnected" in w.text(), timeout=20)
        later = app.enqueue(funcs.add, 1, 2)  # picked up via the new LISTEN connection
        wait_until(lambda: status_of(app, later) is TaskStatus.COMPLETED, timeout=20)
        assert w.proc.poll() is None
    task = app.get_task(running)
    assert task is not None and len(task.history) == 1  # recorded once, not twice
    assert "connection lost" in w.text()


def test_a_task_longer_than_the_lease_is_not_taken_for_lost(
    app: PQ, db_url: str, tmp_path: Path
) -> None:
    task_id = app.enqueue(e2eapp.slow, 8)  # twice the 4 s lease of these tests
    with workers(db_url, tmp_path, 2, "--concurrency", "1"):
        task = wait_until(
            lambda: (t := app.get_task(task_id)) and t.status is TaskStatus.COMPLETED and t,
            timeout=30,
        )
    assert [a.outcome for a in task.history] == [OutcomeKind.SUCCESS]


def test_a_worker_registers_what_it_runs_and_heartbeats(db_url: str, tmp_path: Path) -> None:
    query = (
        "SELECT host, pid, queues, concurrency, version, lease_seconds, last_heartbeat_at "
        "FROM pq_workers"
    )
    with (
        workers(db_url, tmp_path, 1, "-q", "mail", "-c", "3", "--lease", "7") as (w,),
        psycopg.connect(db_url, autocommit=True) as conn,
    ):
        wait_until(lambda: registered_workers(db_url) == 1, timeout=20)
        first = conn.execute(query).fetchone()
        assert first is not None
        assert first[1:6] == (w.pid, ["mail"], 3, pq.__version__, 7.0)
        assert first[0]
        wait_until(lambda: conn.execute(query).fetchone()[6] > first[6], timeout=10)  # type: ignore[index]
