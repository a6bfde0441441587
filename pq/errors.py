"""Every exception pq raises.

    PQError
    ├── ConfigurationError          bad settings or options (also a ValueError)
    │   └── InvalidScheduleError    a periodic schedule that cannot work (bad cron, interval)
    ├── DatabaseUnavailableError    the database cannot be reached with the given URL
    ├── SchemaOutdatedError         the database schema is older than this pq
    ├── TaskDefinitionError         a function that cannot be a task (lambda, closure, ...)
    ├── SerializationError          an argument or result that cannot be stored or restored
    ├── UnknownTaskError            a task name that no registered or importable function has
    ├── CorruptRowError             a task row that cannot be read (written by hand, wrong shape)
    ├── TaskNotFoundError           a task id or client id with no row
    ├── ScheduleNotFoundError       a periodic name and key with no schedule
    ├── DuplicateClientIdError      a client_id already in use (also a psycopg IntegrityError)
    ├── TaskFailedError             a waited-for task ended failed; carries the remote traceback
    │   └── WorkflowFailedError     a chain step, group member or chord member failed
    │       └── WorkflowCancelledError  a waited-for workflow was cancelled (also a
    │                                   TaskCancelledError)
    ├── TaskCancelledError          a waited-for task was cancelled
    ├── WorkflowCancelStalledError  a workflow's cancel could not reach rows another
    │                               transaction kept locked (also a TimeoutError)
    └── ResultTimeoutError          a wait for a result ran out of time (also a TimeoutError)

`Retry` is not an error: task code raises it to ask for another attempt.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg


class PQError(Exception):
    """Raised when pq itself detects a failure; the root of every pq exception."""


class ConfigurationError(PQError, ValueError):
    """Raised when a setting or option is invalid (no database, naive run_at, bad priority)."""


class InvalidScheduleError(ConfigurationError):
    """Raised when a schedule is invalid: bad cron, bad interval, bad timezone, both or none."""


class DatabaseUnavailableError(PQError):
    """Raised when the database cannot be reached with the configured URL."""


class SchemaOutdatedError(PQError):
    """Raised when the database schema is older than this version of pq expects."""


class TaskDefinitionError(PQError):
    """Raised when a function cannot be used as a task (lambda, closure, not importable)."""


class SerializationError(PQError):
    """Raised when an argument or result cannot be stored, or a stored one cannot be restored."""


class UnknownTaskError(PQError):
    """Raised when a task name matches no registered and no importable function."""


class CorruptRowError(PQError):
    """Raised when a task row cannot be read (a required column of the wrong shape)."""


class TaskNotFoundError(PQError):
    """Raised when a task id or client id matches no row."""


class ScheduleNotFoundError(PQError):
    """Raised when a periodic schedule (name and key) has no row and no declaration in code."""


class DuplicateClientIdError(PQError, psycopg.errors.IntegrityError):
    """Raised when a client_id is already used by another task."""


class TaskFailedError(PQError):
    """Raised when a task being waited on ended failed; `remote_traceback` holds its error."""

    def __init__(self, message: str, *, task_id: int, remote_traceback: str | None) -> None:
        super().__init__(message)
        self.task_id = task_id
        self.remote_traceback = remote_traceback


class WorkflowFailedError(TaskFailedError):
    """Raised when a waited-for chain, group or chord failed; `failed` lists the failed Tasks."""

    def __init__(self, message: str, *, failed: Sequence[Any]) -> None:
        first = failed[0]
        super().__init__(message, task_id=first.id, remote_traceback=first.error)
        self.failed = list(failed)


class TaskCancelledError(PQError):
    """Raised when a task being waited on was cancelled."""


class WorkflowCancelledError(WorkflowFailedError, TaskCancelledError):
    """Raised when a waited-for chain, group or chord was cancelled before it finished."""

    # `failed` lists the tasks the cancel stopped (or, if every one it stopped completed
    # anyway, the last task that ran)


class WorkflowCancelStalledError(PQError, TimeoutError):
    """Raised when a workflow's cancel could not reach some of its tasks for its timeout."""

    # Another transaction kept their rows locked. What the cancel could stop is stopped (and
    # starts nothing later); cancelling again after that transaction ends finishes the job.

    def __init__(self, workflow_id: int, left: int, timeout: float) -> None:
        super().__init__(
            f"workflow {workflow_id}: {left} task(s) stayed locked by another transaction for "
            f"{timeout:g}s, so the cancel could not reach them (everything else it stopped "
            "stays stopped). A session left idle in a transaction may hold them: `pq doctor` "
            "names the oldest. Cancel the workflow again once that transaction has ended."
        )
        self.workflow_id = workflow_id
        self.left = left


class ResultTimeoutError(PQError, TimeoutError):
    """Raised when waiting for a task's result takes longer than the timeout given."""
