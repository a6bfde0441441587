"""Priorities (higher first, then run_at, then id) and named queues, as a worker sees them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pq import PQ, Priority, TaskStatus
from taskmods import api


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def test_higher_priority_runs_first_then_earlier_run_at_then_lower_id(
    app: PQ, tmp_path: Path
) -> None:
    log = str(tmp_path / "order.log")
    now = datetime.now(UTC)
    app.enqueue(api.append, log, "batch", priority=Priority.BATCH)
    app.enqueue(api.append, log, "normal-late", run_at=now - timedelta(minutes=1))
    app.enqueue(api.append, log, "normal-early", run_at=now - timedelta(minutes=2))
    app.enqueue(api.append, log, "critical", priority=Priority.CRITICAL)
    app.enqueue(api.append, log, "low", priority="low")
    app.enqueue(api.append, log, "high-1", priority=75)
    app.enqueue(api.append, log, "high-2", priority="HIGH")

    assert app.run_worker(burst=True) == 7

    assert _lines(Path(log)) == [
        "critical",
        "high-1",
        "high-2",
        "normal-early",
        "normal-late",
        "low",
        "batch",
    ]


def test_a_priority_dedicated_worker_takes_only_its_priorities(app: PQ, tmp_path: Path) -> None:
    log = str(tmp_path / "p.log")
    critical = app.enqueue(api.append, log, "critical", priority=Priority.CRITICAL)
    high = app.enqueue(api.append, log, "high", priority=Priority.HIGH)
    normal = app.enqueue(api.append, log, "normal")
    batch = app.enqueue(api.append, log, "batch", priority=Priority.BATCH)

    processed = app.run_worker(burst=True, priorities={Priority.CRITICAL, "high"})

    assert processed == 2
    assert sorted(_lines(Path(log))) == ["critical", "high"]
    assert app.get_task(critical).status is TaskStatus.COMPLETED  # type: ignore[union-attr]
    assert app.get_task(high).status is TaskStatus.COMPLETED  # type: ignore[union-attr]
    assert app.get_task(normal).status is TaskStatus.PENDING  # type: ignore[union-attr]
    assert app.get_task(batch).status is TaskStatus.PENDING  # type: ignore[union-attr]
    assert app.pending_count() == 2


@pytest.mark.parametrize("given", [Priority.HIGH, "high", "High", 75, "75"])
def test_a_priority_is_accepted_as_enum_name_or_number(app: PQ, given: object) -> None:
    task_id = app.enqueue(api.echo, 1, priority=given)  # type: ignore[arg-type]
    assert app.get_task(task_id).priority == 75  # type: ignore[union-attr]


def test_named_queues_on_the_task_and_per_call_are_taken_only_by_their_workers(
    app: PQ, tmp_path: Path
) -> None:
    log = str(tmp_path / "q.log")
    emails = app.task(queue="emails")(api.append)
    in_emails = emails.delay(log, "email")
    in_default = app.enqueue(api.echo, "x")
    in_reports = emails.apply_async((log, "report"), queue="reports")

    assert app.get_task(in_default).queue == "default"  # type: ignore[union-attr]
    assert app.run_worker(burst=True, queues=["emails"]) == 1
    assert _lines(Path(log)) == ["email"]
    assert in_emails.status() is TaskStatus.COMPLETED
    assert in_reports.snapshot().queue == "reports"
    assert in_reports.status() is TaskStatus.PENDING

    assert app.run_worker(burst=True) == 1  # the default worker takes only 'default'
    assert app.get_task(in_default).status is TaskStatus.COMPLETED  # type: ignore[union-attr]
    assert in_reports.status() is TaskStatus.PENDING

    assert app.run_worker(burst=True, queues=["reports", "emails"]) == 1
    assert _lines(Path(log)) == ["email", "report"]
