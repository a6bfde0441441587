"""Time series of finished tasks: throughput and failure rate per minute (the dashboard's
charts). One indexed query over the window; minutes with nothing in them are filled with
zeros here, so a chart always has one bar per minute. Also the overview's failed tasks per
queue, counted up to a cap so the page costs the same however many failures pile up."""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from pq.store.db import Executor
from pq.store.queries import Queries


class _Reader(Protocol):
    """What this module needs of an app (PQ satisfies it)."""

    queries: Queries

    def executor(self, connection: Any = None) -> AbstractContextManager[Executor]: ...


@dataclass(frozen=True)
class MinuteCount:
    """Tasks that ended in one minute, by final status."""

    minute: datetime
    completed: int = 0
    failed: int = 0
    cancelled: int = 0

    @property
    def finished(self) -> int:
        return self.completed + self.failed + self.cancelled


@dataclass(frozen=True)
class FinishedSeries:
    """One MinuteCount per minute of the window, oldest first."""

    minutes: list[MinuteCount]

    @property
    def completed(self) -> int:
        return sum(m.completed for m in self.minutes)

    @property
    def failed(self) -> int:
        return sum(m.failed for m in self.minutes)

    @property
    def failure_rate(self) -> float | None:
        """failed / (completed + failed) over the window; None when nothing ended."""
        ended = self.completed + self.failed
        return None if ended == 0 else self.failed / ended


def finished_series(
    app: _Reader, *, minutes: int = 60, now: datetime | None = None
) -> FinishedSeries:
    """Completed, failed and cancelled tasks per minute over the last `minutes` minutes."""
    if not 1 <= minutes <= 24 * 60:
        raise ValueError(f"minutes must be between 1 and 1440, not {minutes}")
    end = (now or datetime.now(UTC)).replace(second=0, microsecond=0)
    start = end - timedelta(minutes=minutes - 1)
    with app.executor() as ex:
        rows = app.queries.task_series_finished(ex, start)
    counts: dict[datetime, dict[str, int]] = {}
    for row in rows:
        minute = row["minute"].astimezone(UTC)
        counts.setdefault(minute, {})[str(row["status"])] = int(row["n"])
    return FinishedSeries(
        [
            MinuteCount(minute, **counts.get(minute, {}))
            for minute in (start + timedelta(minutes=i) for i in range(minutes))
        ]
    )


FAILED_CAP = 1_000


def failed_by_queue(app: _Reader, cap: int = FAILED_CAP) -> dict[str, int]:
    """Failed tasks per queue that has any; a count above `cap` comes back as cap + 1."""
    with app.executor() as ex:
        rows = ex.fetch(app.queries.sql("queue_failed_counts"), {"cap": cap})
    return {str(r["queue"]): int(r["failed"]) for r in rows}
