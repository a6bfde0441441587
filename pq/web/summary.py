"""The overview's per-queue rows, added up from the operator library's per-(queue, priority)
statistics, plus queues that are paused while empty (so they can be resumed from there) and
queues that hold only failed tasks (so they can be retried from there)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol


class _Stats(Protocol):
    """The fields of pq.ops' QueueStats this page uses."""

    @property
    def queue(self) -> str: ...
    @property
    def due(self) -> int: ...
    @property
    def scheduled(self) -> int: ...
    @property
    def running(self) -> int: ...
    @property
    def oldest_due_age(self) -> float | None: ...
    @property
    def completed_15m(self) -> int: ...
    @property
    def failed_15m(self) -> int: ...


@dataclass
class QueueRow:
    queue: str
    due: int = 0
    scheduled: int = 0
    running: int = 0
    completed_15m: int = 0
    failed_15m: int = 0
    oldest_due_age: float | None = None
    paused: bool = False
    failed: int = 0  # failed tasks kept, at most FAILED_CAP + 1

    @property
    def pending(self) -> int:
        return self.due + self.scheduled

    @property
    def failure_rate(self) -> float | None:
        ended = self.completed_15m + self.failed_15m
        return None if ended == 0 else self.failed_15m / ended


def queue_rows(
    stats: Iterable[_Stats], paused: Iterable[str], failed: Mapping[str, int]
) -> list[QueueRow]:
    """One row per queue, by name."""
    rows: dict[str, QueueRow] = {}
    for s in stats:
        row = rows.setdefault(s.queue, QueueRow(s.queue))
        row.due += s.due
        row.scheduled += s.scheduled
        row.running += s.running
        row.completed_15m += s.completed_15m
        row.failed_15m += s.failed_15m
        if s.oldest_due_age is not None:
            row.oldest_due_age = max(row.oldest_due_age or 0.0, s.oldest_due_age)
    for queue in paused:
        rows.setdefault(queue, QueueRow(queue)).paused = True
    for queue, count in failed.items():
        rows.setdefault(queue, QueueRow(queue)).failed = count
    return [rows[q] for q in sorted(rows)]
