"""Snapshots the operator library returns (besides pq.models.Task)."""

from __future__ import annotations

import enum
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, computed_field


class WorkerState(enum.StrEnum):
    """alive: heartbeating within its lease; lost: it stopped heartbeating (its running tasks
    are or will be rescued); stopped: it shut down cleanly."""

    ALIVE = "alive"
    LOST = "lost"
    STOPPED = "stopped"


class WorkerInfo(BaseModel):
    """One worker process as the fleet table knows it."""

    model_config = ConfigDict(frozen=True)

    id: int
    state: WorkerState
    host: str
    pid: int
    version: str
    queues: list[str]
    priorities: list[int] | None  # None: every priority
    concurrency: int
    lease_seconds: float
    started_at: datetime
    last_heartbeat_at: datetime
    stopped_at: datetime | None = None
    heartbeat_age: float  # seconds since its last heartbeat, by the database's clock
    running: list[int] = Field(default_factory=list)  # ids of the tasks it runs now


class QueueStats(BaseModel):
    """Counts and timings of one (queue, priority) pair, as of the moment it was read."""

    model_config = ConfigDict(frozen=True)

    queue: str
    priority: int
    due: int  # pending and due now
    scheduled: int  # pending, due later (run_at in the future, e.g. a retry's backoff)
    running: int
    oldest_due_age: float | None  # seconds the oldest due task has waited; None if none
    completed_1m: int
    completed_5m: int
    completed_15m: int
    failed_1m: int
    failed_5m: int
    failed_15m: int
    p50_runtime: float | None  # seconds, over the attempts that ended in the last 15 minutes
    p95_runtime: float | None
    paused: bool

    @computed_field  # type: ignore[prop-decorator]
    @property
    def pending(self) -> int:
        return self.due + self.scheduled

    @computed_field  # type: ignore[prop-decorator]
    @property
    def failure_rate(self) -> float | None:
        """Failed / (completed + failed) over the last 15 minutes; None when nothing ended."""
        ended = self.completed_15m + self.failed_15m
        return None if ended == 0 else self.failed_15m / ended
