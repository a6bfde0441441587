"""When a task may run: run_at (timezone-aware only), countdown, and Celery's eta alias."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from pq import PQ, ConfigurationError, TaskStatus
from taskmods import api


def test_a_task_with_a_future_run_at_waits_and_a_past_one_runs(app: PQ) -> None:
    later = app.enqueue(api.echo, 1, run_at=datetime.now(UTC) + timedelta(hours=1))
    now = app.enqueue(api.echo, 2, run_at=datetime.now(UTC) - timedelta(seconds=1))

    assert app.run_worker(burst=True) == 1
    assert app.get_task(now).status is TaskStatus.COMPLETED  # type: ignore[union-attr]
    assert app.get_task(later).status is TaskStatus.PENDING  # type: ignore[union-attr]


def test_run_at_in_another_timezone_means_the_same_instant(app: PQ) -> None:
    when = datetime(2030, 1, 1, 12, 0, tzinfo=timezone(timedelta(hours=5)))
    task_id = app.enqueue(api.echo, 1, run_at=when)
    stored = app.get_task(task_id).run_at  # type: ignore[union-attr]
    assert stored == when
    assert stored.astimezone(UTC).hour == 7


def test_a_naive_run_at_is_refused_with_a_clear_error_and_nothing_is_stored(app: PQ) -> None:
    with pytest.raises(ConfigurationError, match="no timezone"):
        app.enqueue(api.echo, 1, run_at=datetime(2030, 1, 1, 12, 0))
    task = app.task(api.echo)
    with pytest.raises(ConfigurationError, match=r"datetime\.now\(UTC\)"):
        task.apply_async((1,), eta=datetime.now())
    assert app.pending_count() == 0


def test_countdown_delays_by_seconds(app: PQ) -> None:
    before = datetime.now(UTC)
    task_id = app.task(api.echo).apply_async((1,), countdown=3600).id
    run_at = app.get_task(task_id).run_at  # type: ignore[union-attr]
    assert run_at >= before + timedelta(seconds=3599)
    assert app.run_worker(burst=True) == 0


def test_eta_is_an_alias_of_run_at(app: PQ) -> None:
    when = datetime.now(UTC) + timedelta(days=1)
    handle = app.task(api.echo).apply_async((1,), eta=when)
    assert handle.snapshot().run_at == when


def test_conflicting_time_options_are_refused(app: PQ) -> None:
    task = app.task(api.echo)
    when = datetime.now(UTC)
    with pytest.raises(ConfigurationError, match="not both"):
        task.apply_async((1,), run_at=when, eta=when)
    with pytest.raises(ConfigurationError, match="not both"):
        app.enqueue(api.echo, 1, run_at=when, countdown=5)
    assert app.pending_count() == 0
