"""Typed snapshots of rows (`Task`, `Periodic`) and the enums users pass around."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pq.errors import ConfigurationError, CorruptRowError


class Priority(enum.IntEnum):
    """Five levels; a higher number runs first."""

    BATCH = 0
    LOW = 25
    NORMAL = 50
    HIGH = 75
    CRITICAL = 100


class TaskStatus(enum.StrEnum):
    """Where a task is in its life."""

    PENDING = "pending"
    WAITING = "waiting"  # held back by a rate limit or a per-key concurrency limit
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class OutcomeKind(enum.StrEnum):
    """How one attempt ended, as the parent learned it from `os.wait4` and the child's pipe."""

    SUCCESS = "success"
    EXCEPTION = "exception"  # the function raised
    TIMEOUT = "timeout"  # the parent killed it past max_runtime
    MEMORY = "memory"  # MemoryError under a limit, or a SIGKILL the parent did not send
    CRASH = "crash"  # killed by a signal (SIGSEGV ...) or exited without a result
    LOST = "lost"  # its worker stopped heartbeating
    INTERRUPTED = "interrupted"  # the worker shut down before it finished
    CANCELLED = "cancelled"  # cancelled while running


class Attempt(BaseModel):
    """One finished attempt of a task, as kept in its history."""

    model_config = ConfigDict(frozen=True)

    attempt: int
    outcome: OutcomeKind
    error: str | None = None
    exit_code: int | None = None
    signal: int | None = None
    duration: float | None = None
    max_rss_kib: int | None = None
    cpu_seconds: float | None = None
    worker_id: int | None = None
    finished_at: datetime | None = None


class Task(BaseModel):
    """A snapshot of one task row."""

    model_config = ConfigDict(frozen=True)

    id: int
    name: str
    queue: str
    priority: int
    status: TaskStatus
    args: list[Any] = Field(default_factory=list)
    kwargs: dict[str, Any] = Field(default_factory=dict)
    options: dict[str, Any] = Field(default_factory=dict)
    client_id: str | None = None
    run_at: datetime
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    attempts: int
    max_attempts: int
    worker_id: int | None = None
    result: Any = None
    error: str | None = None
    outcome: OutcomeKind | None = None
    history: list[Attempt] = Field(default_factory=list)
    periodic_id: int | None = None
    workflow_id: int | None = None  # the chain, group or chord it belongs to
    workflow_step: int | None = None  # its position there (chain step, group member)
    rate_key: str | None = None  # the global rate limit it is counted against
    concurrency_key: str | None = None  # the key whose concurrency limit it obeys
    # Columns whose stored value had the wrong shape (a row written by hand or by plain SQL:
    # `options` as a JSON array, a history entry with an unknown outcome), kept here as stored
    # while the field above shows its default, so reading such a row never fails.
    invalid: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Task:
        """The snapshot of a row as the database returned it, whatever wrote it."""
        # A value that is not JSON at all: a document too deep to decode, read as Undecodable.
        odd = {k for k, v in row.items() if k in cls.model_fields and not _plain(v)}
        bad = set(odd)
        if not odd:
            try:
                return cls.model_validate(row)
            except ValidationError as exc:
                bad = {str(e["loc"][0]) for e in exc.errors() if e["loc"]}
        required = {name for name, f in cls.model_fields.items() if f.is_required()}
        if not bad or bad & required or "invalid" in bad:
            raise CorruptRowError(
                f"task {row.get('id')}: the row cannot be read ({', '.join(sorted(bad))} of the "
                "wrong type); fix or delete it with SQL"
            )
        kept = {k: v for k, v in row.items() if k not in bad}
        invalid = {k: repr(row[k]) if k in odd else row.get(k) for k in sorted(bad)}
        return cls.model_validate({**kept, "invalid": invalid})


def _plain(value: Any) -> bool:
    """Whether a column's value is what a database driver gives (JSON, text, numbers, times)."""
    return value is None or isinstance(value, str | int | float | bool | list | dict | datetime)


class Periodic(BaseModel):
    """A snapshot of one periodic schedule row."""

    model_config = ConfigDict(frozen=True)

    id: int
    name: str
    key: str
    args: list[Any] = Field(default_factory=list)
    kwargs: dict[str, Any] = Field(default_factory=dict)
    every_seconds: float | None = None
    cron: str | None = None
    timezone: str
    max_concurrent: int | None
    active: bool
    priority: int
    queue: str
    options: dict[str, Any] = Field(default_factory=dict)
    next_run: datetime
    last_run: datetime | None = None
    declared_in_code: bool = False
    orphaned_at: datetime | None = None  # set when its code is gone: it then enqueues nothing


def coerce_priority(value: Priority | int | str) -> int:
    """Accepts a Priority, its name in any case ('high') or a number 0..100."""
    if isinstance(value, Priority):
        return int(value)
    if isinstance(value, bool):
        raise ConfigurationError("priority must be a Priority, its name or a number, not a bool")
    if isinstance(value, int):
        if not 0 <= value <= 100:
            raise ConfigurationError(
                f"priority {value} is out of range: use 0 (BATCH) to 100 (CRITICAL)"
            )
        return value
    if isinstance(value, str):
        text = value.strip()
        if text.lstrip("-").isdigit():
            return coerce_priority(int(text))
        try:
            return int(Priority[text.upper()])
        except KeyError:
            names = ", ".join(p.name.lower() for p in Priority)
            raise ConfigurationError(
                f"unknown priority {value!r}: use one of {names} or 0..100"
            ) from None
    raise ConfigurationError(
        f"priority must be a Priority, its name or a number, not {type(value).__name__}"
    )
