"""Retries: the policy per task and per call, pq.Retry, the attempt history, poison tasks."""

from __future__ import annotations

from pathlib import Path

from pq import PQ, OutcomeKind, TaskStatus
from taskmods import reliability


def runs(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


def test_a_flaky_task_is_retried_until_it_succeeds_and_keeps_every_error(
    app: PQ, tmp_path: Path
) -> None:
    log = tmp_path / "runs"
    task_id = app.enqueue(reliability.flaky, str(log), 3)

    app.run_worker(burst=True)

    task = app.get_task(task_id)
    assert task is not None
    assert task.status is TaskStatus.COMPLETED and task.result == 3
    assert [a.outcome for a in task.history] == [
        OutcomeKind.EXCEPTION,
        OutcomeKind.EXCEPTION,
        OutcomeKind.SUCCESS,
    ]
    assert "failing on purpose, run 1" in (task.history[0].error or "")
    assert "failing on purpose, run 2" in (task.history[1].error or "")
    assert "attempt 1 of 4: exception" in (task.history[0].error or "")


def test_a_task_that_always_fails_stops_after_its_retries_and_shows_the_last_error(
    app: PQ, tmp_path: Path
) -> None:
    log = tmp_path / "runs"
    task_id = app.enqueue(reliability.flaky, str(log), 99)

    app.run_worker(burst=True)

    assert runs(log) == 4  # the first attempt and three retries
    (failed,) = app.list_failed()
    assert failed.id == task_id
    assert failed.attempts == 4 and len(failed.history) == 4
    assert "failing on purpose, run 4" in (failed.error or "")
    assert "attempt 4 of 4" in (failed.error or "")


def test_retry_on_limits_which_outcomes_are_retried(app: PQ, tmp_path: Path) -> None:
    log = tmp_path / "runs"
    task_id = app.enqueue(reliability.flaky_only_timeouts_retried, str(log))

    app.run_worker(burst=True)

    assert runs(log) == 1  # an exception is not in retry_on=["timeout"]
    assert app.get_task(task_id).status is TaskStatus.FAILED  # type: ignore[union-attr]


def test_retries_and_backoff_can_be_overridden_per_call(app: PQ, tmp_path: Path) -> None:
    log = tmp_path / "runs"
    plain = app.task(reliability.fail_until)  # no retries by default
    handle = plain.apply_async((str(log), 2), retries=2, backoff=0)

    app.run_worker(burst=True)

    task = handle.snapshot()
    assert task.status is TaskStatus.COMPLETED and task.attempts == 2
    assert task.max_attempts == 3


def test_the_default_backoff_waits_before_the_next_attempt(app: PQ, tmp_path: Path) -> None:
    log = tmp_path / "runs"
    plain = app.task(reliability.fail_until, retries=1)
    handle = plain.delay(str(log), 5)

    assert app.run_worker_once() is True

    task = handle.snapshot()
    assert task.status is TaskStatus.PENDING
    ended = task.history[0].finished_at
    assert ended is not None
    wait = (task.run_at - ended).total_seconds()
    assert 0.45 <= wait <= 1.01  # default: 1 s base, times a jitter in [0.5, 1]
    assert app.run_worker_once() is False  # not due yet


def test_raising_retry_runs_the_task_again_after_its_countdown(app: PQ, tmp_path: Path) -> None:
    log = tmp_path / "runs"
    task_id = app.enqueue(reliability.asks_for_retry, str(log), 0)

    app.run_worker(burst=True)

    task = app.get_task(task_id)
    assert task is not None and task.status is TaskStatus.COMPLETED and task.result == 2
    assert "not ready yet" in (task.history[0].error or "")


def test_raising_retry_without_attempts_left_fails_and_says_so(app: PQ, tmp_path: Path) -> None:
    log = tmp_path / "runs"
    no_retries = app.task(reliability.asks_for_retry.fn, retries=0)
    task_id = no_retries.delay(str(log), 0).id

    app.run_worker(burst=True)

    task = app.get_task(task_id)
    assert task is not None and task.status is TaskStatus.FAILED
    assert "no attempts are left" in (task.error or "")


def test_a_task_that_crashes_its_child_is_not_retried_by_default(app: PQ, tmp_path: Path) -> None:
    log = tmp_path / "runs"
    poison = app.task(reliability.crash, retries=5, backoff=0)
    handle = poison.delay(str(log))

    app.run_worker(burst=True)

    task = handle.snapshot()
    assert runs(log) == 1
    assert task.status is TaskStatus.FAILED and task.outcome is OutcomeKind.CRASH
    assert "exit code 9" in (task.error or "")


def test_crashes_are_retried_when_the_task_opts_in(app: PQ, tmp_path: Path) -> None:
    log = tmp_path / "runs"
    opted_in = app.task(reliability.crash, retries=2, backoff=0, retry_on=["crash"])
    handle = opted_in.delay(str(log))

    app.run_worker(burst=True)

    assert runs(log) == 3
    assert [a.outcome for a in handle.snapshot().history] == [OutcomeKind.CRASH] * 3
