"""pq: a Postgres-backed task queue whose worker runs every task in its own forked child."""

from pq._version import __version__
from pq.app import PQ
from pq.canvas import Signature, chain, chord, group, signature
from pq.errors import (
    ConfigurationError,
    CorruptRowError,
    DatabaseUnavailableError,
    DuplicateClientIdError,
    InvalidScheduleError,
    PQError,
    ResultTimeoutError,
    ScheduleNotFoundError,
    SchemaOutdatedError,
    SerializationError,
    TaskCancelledError,
    TaskDefinitionError,
    TaskFailedError,
    TaskNotFoundError,
    UnknownTaskError,
    WorkflowCancelledError,
    WorkflowCancelStalledError,
    WorkflowFailedError,
)
from pq.models import Attempt, OutcomeKind, Periodic, Priority, Task, TaskStatus
from pq.periodic.function import PeriodicFunction
from pq.producer.task import TaskFunction, TaskHandle
from pq.retry import Backoff, Retry

__all__ = [
    "PQ",
    "Attempt",
    "Backoff",
    "ConfigurationError",
    "CorruptRowError",
    "DatabaseUnavailableError",
    "DuplicateClientIdError",
    "InvalidScheduleError",
    "OutcomeKind",
    "PQError",
    "Periodic",
    "PeriodicFunction",
    "Priority",
    "ResultTimeoutError",
    "Retry",
    "ScheduleNotFoundError",
    "SchemaOutdatedError",
    "SerializationError",
    "Signature",
    "Task",
    "TaskCancelledError",
    "TaskDefinitionError",
    "TaskFailedError",
    "TaskFunction",
    "TaskHandle",
    "TaskNotFoundError",
    "TaskStatus",
    "UnknownTaskError",
    "WorkflowCancelStalledError",
    "WorkflowCancelledError",
    "WorkflowFailedError",
    "__version__",
    "chain",
    "chord",
    "group",
    "signature",
]
