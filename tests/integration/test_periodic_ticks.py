"""Ticks: one task per tick across many real workers, one run after downtime, overlap control."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row
from worker_procs import running_workers

from pq import PQ, TaskStatus
from taskmods import funcs
from waiting import wait_until


def tick_rows(db_url: str, periodic_id: int) -> list[dict[str, Any]]:
    with psycopg.connect(db_url, row_factory=dict_row) as conn:
        return conn.execute(
            "SELECT id, status, run_at, created_at, started_at, finished_at, options"
            " FROM pq_tasks WHERE periodic_id = %s ORDER BY id",
            (periodic_id,),
        ).fetchall()


def slot_of(row: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(row["options"]["periodic"]["slot"])


@pytest.mark.slow
def test_four_workers_enqueue_exactly_one_task_per_tick(
    app: PQ, db_url: str, tmp_path: Path
) -> None:
    every = timedelta(seconds=1)
    # Overlap allowed, so only the tick engine decides how many tasks there are.
    schedule = app.schedule(funcs.noop, run_every=every, max_concurrent=None)

    with running_workers(db_url, 4, tmp_path):
        wait_until(lambda: len(tick_rows(db_url, schedule.id)) >= 30, timeout=120, interval=0.2)
        stopped = app.pause_schedule(funcs.noop)  # no tick after this commits

    rows = tick_rows(db_url, schedule.id)
    slots = sorted(slot_of(r) for r in rows)
    assert len(slots) == len(set(slots)), "a tick was enqueued twice"
    # The workers need a moment to start, so the first tick may come late; it then stands
    # for the slots it missed, as after any downtime. From the next tick to the pause, every
    # slot is there exactly once: nothing doubled, nothing missed, and the count is what the
    # elapsed schedule says it must be.
    catch_up, first, *_ = slots
    elapsed_ticks = round((stopped.next_run - first) / every)
    assert slots[1:] == [first + n * every for n in range(elapsed_ticks)]
    assert catch_up == schedule.next_run and (first - catch_up) % every == timedelta(0)
    assert len(rows) >= 30


def test_after_downtime_a_schedule_runs_once_not_once_per_missed_tick(app: PQ, db_url: str) -> None:
    every = timedelta(minutes=1)
    schedule = app.schedule(funcs.noop, run_every=every)
    with psycopg.connect(db_url) as conn:  # as if no worker ran for ten and a half minutes
        conn.execute(
            "UPDATE pq_periodic SET next_run = now() - interval '10 minutes 30 seconds'"
            " WHERE id = %s",
            (schedule.id,),
        )
    missed_since = app.get_schedule(funcs.noop).next_run  # type: ignore[union-attr]

    assert app.run_worker(burst=True) == 1

    rows = tick_rows(db_url, schedule.id)
    assert len(rows) == 1 and rows[0]["status"] == "completed"
    after = app.get_schedule(funcs.noop)
    assert after is not None and after.last_run is not None
    assert after.next_run > after.last_run  # the next tick is in the future ...
    assert (after.next_run - missed_since) % every == timedelta(0)  # ... and on the old phase


@pytest.mark.slow
def test_a_tick_is_skipped_while_the_previous_run_is_still_going(
    app: PQ, db_url: str, tmp_path: Path
) -> None:
    schedule = app.schedule(funcs.sleep_for, 1.5, run_every=timedelta(seconds=0.5))

    with running_workers(db_url, 2, tmp_path, args=["--concurrency", "2"]):
        wait_until(
            lambda: sum(r["status"] == "completed" for r in tick_rows(db_url, schedule.id)) >= 3,
            timeout=60,
            interval=0.1,
        )
        app.pause_schedule(funcs.sleep_for)

    rows = [r for r in tick_rows(db_url, schedule.id) if r["status"] == "completed"]
    for previous, following in itertools.pairwise(rows):
        # With max_concurrent=1 the next run is only enqueued once the previous one ended.
        assert following["created_at"] >= previous["finished_at"]
    slots = [slot_of(r) for r in rows]
    assert any(b - a > timedelta(seconds=0.5) for a, b in itertools.pairwise(slots))


@pytest.mark.slow
def test_max_concurrent_none_lets_runs_of_one_schedule_overlap(
    app: PQ, db_url: str, tmp_path: Path
) -> None:
    schedule = app.schedule(
        funcs.sleep_for, 3.0, run_every=timedelta(seconds=0.5), max_concurrent=None
    )

    def running_at_once() -> bool:
        return sum(r["status"] == "running" for r in tick_rows(db_url, schedule.id)) >= 2

    with running_workers(db_url, 1, tmp_path, args=["--concurrency", "3"]):
        wait_until(running_at_once, timeout=60, interval=0.05)
        app.pause_schedule(funcs.sleep_for)

    # The workers drained on SIGTERM: the overlapping runs finished (later ticks may still
    # wait, unclaimed, for the next worker).
    statuses = [r["status"] for r in tick_rows(db_url, schedule.id)]
    assert statuses.count(TaskStatus.COMPLETED.value) >= 2
    assert set(statuses) <= {TaskStatus.COMPLETED.value, TaskStatus.PENDING.value}


def test_a_worker_ticks_only_the_schedules_it_could_run_itself(app: PQ, db_url: str) -> None:
    schedule = app.schedule(funcs.noop, run_every=timedelta(minutes=1))  # queue default, normal
    due = app.get_schedule(funcs.noop).next_run  # type: ignore[union-attr]

    # Workers of another queue or priority leave it alone: no tick nobody here would run,
    # and no "skipped, still pending" on every later tick.
    assert app.run_worker(burst=True, queues=["emails"]) == 0
    assert app.run_worker(burst=True, priorities={"high"}) == 0
    assert tick_rows(db_url, schedule.id) == []
    assert app.get_schedule(funcs.noop).next_run == due  # type: ignore[union-attr]

    assert app.run_worker(burst=True, queues=["emails", "default"]) == 1
    assert [r["status"] for r in tick_rows(db_url, schedule.id)] == ["completed"]
