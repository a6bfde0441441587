"""Schedules from code and from the API: keys, pause surviving restarts, orphans, and ticks
that are ordinary tasks (retries, timeouts, hooks, history)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from pq import PQ, OutcomeKind, ScheduleNotFoundError, TaskStatus
from taskmods import funcs, periodic_jobs
from waiting import wait_until

HOUR = timedelta(hours=1)


def tasks_of(app: PQ, name: str) -> list[tuple[int, str, dict[str, object]]]:
    with psycopg.connect(app.database_url) as conn:
        rows = conn.execute(
            "SELECT id, status, kwargs FROM pq_tasks WHERE name = %s ORDER BY id", (name,)
        ).fetchall()
    return [(r[0], r[1], r[2]) for r in rows]


def test_one_function_runs_under_several_keys_with_their_own_arguments(app: PQ) -> None:
    app.schedule(periodic_jobs.sync_data, run_every=HOUR, key="us", region="us")
    app.schedule(periodic_jobs.sync_data, run_every=2 * HOUR, key="eu", region="eu")

    assert app.run_worker(burst=True) == 2

    by_key = {p.key: p for p in app.list_schedules()}
    assert set(by_key) == {"us", "eu"}
    assert by_key["us"].every_seconds == 3600 and by_key["eu"].every_seconds == 7200
    done = {t.result for t in app.list_completed()}
    assert done == {"us", "eu"}


def test_unschedule_with_a_key_removes_only_that_schedule(app: PQ) -> None:
    app.schedule(periodic_jobs.sync_data, run_every=HOUR, key="us", region="us")
    app.schedule(periodic_jobs.sync_data, run_every=HOUR, key="eu", region="eu")

    assert app.unschedule(periodic_jobs.sync_data, key="us") is True
    assert app.unschedule(periodic_jobs.sync_data, key="us") is False  # already gone

    assert [p.key for p in app.list_schedules()] == ["eu"]


def test_the_decorator_declares_keyed_schedules_that_a_starting_worker_writes(app: PQ) -> None:
    sync = app.periodic(run_every=HOUR, key="us", kwargs={"region": "us"})(
        app.periodic(run_every=2 * HOUR, key="eu", kwargs={"region": "eu"})(periodic_jobs.sync_data)
    )
    assert app.list_schedules() == []  # declaring touches no database

    app.run_worker(burst=True)

    assert {(p.key, p.kwargs["region"], p.declared_in_code) for p in app.list_schedules()} == {
        ("us", "us", True),
        ("eu", "eu", True),
    }
    assert sync.unschedule(key="us") is True
    assert [p.key for p in app.list_schedules()] == ["eu"]
    assert sync("inline") == "inline"  # calling it directly runs it here


def test_a_pause_survives_a_worker_restart_and_new_code(db_url: str) -> None:
    old = PQ(db_url)
    report = old.periodic(run_every=HOUR)(funcs.noop)
    old.run_worker(burst=True)  # writes the declaration and runs its first tick
    assert len(tasks_of(old, "taskmods.funcs:noop")) == 1
    report.pause()
    with psycopg.connect(db_url) as conn:  # make it due, as if an hour had passed
        conn.execute("UPDATE pq_periodic SET next_run = now() - interval '1 second'")

    new = PQ(db_url)  # a restart with changed code: a new interval, declared active
    new.periodic(run_every=2 * HOUR, active=True)(funcs.noop)
    new.run_worker(burst=True)

    (row,) = new.list_schedules()
    assert row.active is False  # runtime state stays the database's
    assert row.every_seconds == 7200  # the definition is the code's
    assert len(tasks_of(new, "taskmods.funcs:noop")) == 1  # nothing ran while paused

    new.resume_schedule("taskmods.funcs:noop")
    new.run_worker(burst=True)
    assert new.get_schedule("noop").active is True  # type: ignore[union-attr]
    old.close()
    new.close()


def make_due(db_url: str) -> None:
    with psycopg.connect(db_url) as conn:  # as if its next run had come
        conn.execute("UPDATE pq_periodic SET next_run = now() - interval '1 second'")


def test_schedule_with_active_false_pauses_and_active_true_resumes(app: PQ, db_url: str) -> None:
    app.schedule(funcs.noop, run_every=HOUR, active=False)
    make_due(db_url)
    assert app.run_worker(burst=True) == 0  # paused: a due tick does not run

    resumed = app.schedule(funcs.noop, run_every=HOUR, active=True)

    assert resumed.active is True
    # The tick missed while paused is dropped: the next one is the next slot to come.
    assert datetime.now(UTC) < resumed.next_run <= datetime.now(UTC) + HOUR
    make_due(db_url)
    assert app.run_worker(burst=True) == 1


def test_a_schedule_dropped_from_the_code_is_orphaned_and_enqueues_nothing(db_url: str) -> None:
    old = PQ(db_url)
    old.periodic(run_every=timedelta(seconds=1))(funcs.noop)
    old.run_worker(burst=True)
    assert len(tasks_of(old, "taskmods.funcs:noop")) == 1

    new = PQ(db_url)  # the deployed code no longer declares it
    with psycopg.connect(db_url) as conn:
        conn.execute("UPDATE pq_periodic SET next_run = now() - interval '1 second'")
    assert new.run_worker(burst=True) == 0

    (row,) = new.list_schedules()
    assert row.orphaned_at is not None and row.active is True  # kept, visible, but silent
    assert len(tasks_of(new, "taskmods.funcs:noop")) == 1

    old.run_worker(burst=True)  # code that declares it again revives it
    assert old.list_schedules()[0].orphaned_at is None
    assert len(tasks_of(old, "taskmods.funcs:noop")) == 2
    old.close()
    new.close()


def test_a_schedule_whose_function_is_gone_is_orphaned_instead_of_failing_forever(
    db_url: str,
) -> None:
    creator = PQ(db_url)
    vanished = creator.task(name="tasks_deleted_since:cleanup")(funcs.noop)
    creator.schedule(vanished, run_every=timedelta(seconds=1))

    worker_app = PQ(db_url)  # its code has no such function
    assert worker_app.run_worker(burst=True) == 0

    (row,) = worker_app.list_schedules()
    assert row.orphaned_at is not None
    assert tasks_of(worker_app, "tasks_deleted_since:cleanup") == []
    creator.close()
    worker_app.close()


def test_pausing_an_unknown_schedule_says_how_to_find_the_right_name(app: PQ) -> None:
    with pytest.raises(ScheduleNotFoundError, match="pq periodic list"):
        app.pause_schedule("taskmods.funcs:noop", key="nope")
    with pytest.raises(ScheduleNotFoundError, match="no schedule named"):
        app.pause_schedule("nothing_like_this")


def test_a_periodic_run_gets_retries_and_history_like_any_task(app: PQ, tmp_path: Path) -> None:
    marker = str(tmp_path / "marker")
    app.periodic(run_every=HOUR, retries=1, kwargs={"marker": marker})(
        periodic_jobs.fail_first_attempt
    )

    def finished() -> bool:
        app.run_worker(burst=True)
        return bool(app.list_completed())

    wait_until(finished, timeout=30, interval=0.1)

    (task,) = app.list_completed()
    assert task.periodic_id is not None and task.result == "second attempt"
    assert [a.outcome for a in task.history] == [OutcomeKind.EXCEPTION, OutcomeKind.SUCCESS]


def test_a_periodic_run_is_killed_at_its_max_runtime(app: PQ) -> None:
    app.periodic(run_every=HOUR, max_runtime=0.5)(funcs.spin_forever)

    app.run_worker(burst=True)

    (task,) = app.list_failed()
    assert task.outcome is OutcomeKind.TIMEOUT and task.periodic_id is not None


def test_hooks_receive_the_periodic_task(
    app: PQ, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hook_file = tmp_path / "hooks.jsonl"
    monkeypatch.setenv("PQ_TEST_HOOK_FILE", str(hook_file))
    app.schedule(periodic_jobs.sync_data, run_every=HOUR, key="us", region="us")

    app.run_worker(
        burst=True, pre_execute=periodic_jobs.record_hook, post_execute=periodic_jobs.record_hook
    )

    seen = [json.loads(line) for line in hook_file.read_text().splitlines()]
    schedule = app.get_schedule(periodic_jobs.sync_data, key="us")
    assert schedule is not None
    assert [(s["periodic_id"], s["key"], s["error"]) for s in seen] == [
        (schedule.id, "us", None),
        (schedule.id, "us", None),
    ]
    (task,) = app.list_completed()
    assert task.status is TaskStatus.COMPLETED and seen[0]["id"] == task.id


def test_run_now_enqueues_one_run_without_moving_the_schedule(app: PQ) -> None:
    before = app.schedule(funcs.noop, cron="0 9 * * 1", timezone="Europe/Berlin")

    task_id = app.run_schedule_now(funcs.noop)

    task = app.get_task(task_id)
    assert task is not None and task.periodic_id == before.id
    assert app.get_schedule(funcs.noop).next_run == before.next_run  # type: ignore[union-attr]
