"""Every knob pq has, with its default and the PQ_* environment variable that overrides it.

An explicit argument wins over the environment, which wins over the default.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any

from pq.errors import ConfigurationError

_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise ConfigurationError(
            f"{name}={raw!r} is not a number; set it to seconds, e.g. 1.5"
        ) from None


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigurationError(f"{name}={raw!r} is not a whole number") from None


def _env_optional_int(name: str) -> int | None:
    return None if os.environ.get(name) in (None, "") else _env_int(name, 0)


def _env_tristate(name: str) -> bool | None:
    """'1'/'true'/'yes' -> True, '0'/'false'/'no' -> False, unset, '' or 'auto' -> None."""
    raw = os.environ.get(name, "").strip().lower()
    if raw in ("", "auto"):
        return None
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigurationError(f"{name}={raw!r}: use 1, 0 or auto")


_MODULE_NAME = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")


def _env_include() -> tuple[str, ...] | None:
    raw = os.environ.get("PQ_INCLUDE")
    if raw is None:
        return None
    return tuple(part.strip() for part in raw.split(",") if part.strip())


def validate_include(include: tuple[str, ...]) -> tuple[str, ...]:
    """Module or package names (`myapp`, `myapp.jobs`) whose functions a worker may run."""
    for name in include:
        if not _MODULE_NAME.match(name):
            raise ConfigurationError(
                f"include={list(include)!r}: {name!r} is not a module or package name "
                "(write e.g. 'myapp' or 'myapp.jobs')"
            )
    return include


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_DURATION_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def _env_duration(name: str, default: float) -> float | None:
    """Seconds from '7d', '12h', '30m', '3600' or 'none' (keep forever)."""
    raw = os.environ.get(name, "").strip().lower()
    if raw == "":
        return default
    if raw in ("none", "never", "off"):
        return None
    match = _DURATION.match(raw)
    if not match:
        raise ConfigurationError(f"{name}={raw!r}: write e.g. 7d, 12h, 3600 or none")
    return float(match.group(1)) * _DURATION_UNITS[match.group(2)]


def validate_schema_name(schema: str) -> str:
    """Schema names are spliced into SQL, so only plain lower-case identifiers are allowed."""
    if not _SCHEMA_NAME.match(schema):
        raise ConfigurationError(
            f"schema={schema!r} is not allowed: use lower-case letters, digits and '_', "
            "starting with a letter or '_' (at most 63 characters)"
        )
    return schema


@dataclass(frozen=True)
class Settings:
    """Connection and pool settings of one PQ instance."""

    # Secrets stay out of repr(), which ends up in logs and tracebacks.
    database_url: str | None = field(default=None, repr=False)  # see embedded.resolve_database_url
    schema: str = field(default_factory=lambda: os.environ.get("PQ_SCHEMA", "public"))
    pool_min_size: int = field(default_factory=lambda: _env_int("PQ_POOL_MIN_SIZE", 1))
    pool_max_size: int = field(default_factory=lambda: _env_int("PQ_POOL_MAX_SIZE", 10))
    allow_pickle: bool = field(
        default_factory=lambda: os.environ.get("PQ_ALLOW_PICKLE", "1") not in ("0", "false", "no")
    )
    secret_key: str | None = field(
        default_factory=lambda: os.environ.get("PQ_SECRET_KEY"), repr=False
    )
    # Modules and packages whose functions a worker may run besides registered tasks (see
    # pq.registry); None: the package of the module that created the app. Env: PQ_INCLUDE.
    include: tuple[str, ...] | None = field(default_factory=_env_include)
    # A pooler (PgBouncer in transaction mode) between pq and Postgres: None detects it on
    # the first connection. Behind one, pq prepares no statement and LISTENs only through
    # listen_url, a direct URL to the same database (else workers and result waits poll).
    pooled: bool | None = field(default_factory=lambda: _env_tristate("PQ_POOLED"))
    listen_url: str | None = field(
        default_factory=lambda: os.environ.get("PQ_LISTEN_URL") or None, repr=False
    )
    # Seconds: in a burst of enqueues, workers get one notice per window (0: one per enqueue).
    # It is also the most a row inserted silently waits for its notice: a caller that enqueues,
    # waits for the result and enqueues again within the window pays it on every task (50 ms
    # was measured as 50 ms of pick-up there), so it is kept short; 10 ms still coalesces a
    # busy producer's enqueues (hundreds a second) into a few notices each.
    notify_window: float = field(default_factory=lambda: _env_float("PQ_NOTIFY_WINDOW", 0.01))

    def __post_init__(self) -> None:
        validate_schema_name(self.schema)
        if self.include is not None:
            object.__setattr__(self, "include", validate_include(tuple(self.include)))
        if self.pool_min_size < 0 or self.pool_max_size < max(1, self.pool_min_size):
            raise ConfigurationError(
                f"pool sizes min={self.pool_min_size} max={self.pool_max_size} are invalid: "
                "need 0 <= min <= max and max >= 1"
            )


@dataclass(frozen=True)
class WorkerSettings:
    """How one worker runs: what it takes, how many at once, how it waits and how it stops."""

    concurrency: int = field(default_factory=lambda: _env_int("PQ_CONCURRENCY", 1))
    queues: tuple[str, ...] = ("default",)
    priorities: frozenset[int] | None = None  # None: every priority
    poll_interval: float = field(default_factory=lambda: _env_float("PQ_POLL_INTERVAL", 1.0))
    max_runtime: float | None = None  # default for tasks that set none
    # bytes ('512MiB' accepted); default for tasks that set none. Env: PQ_MAX_MEMORY.
    max_memory: int | None = field(default_factory=lambda: os.environ.get("PQ_MAX_MEMORY") or None)  # type: ignore[assignment]
    max_cpu: float | None = None  # CPU seconds; default for tasks that set none
    heartbeat_interval: float = field(
        default_factory=lambda: _env_float("PQ_HEARTBEAT_INTERVAL", 5.0)
    )
    lease: float = field(default_factory=lambda: _env_float("PQ_LEASE", 30.0))
    drain_timeout: float = field(default_factory=lambda: _env_float("PQ_DRAIN_TIMEOUT", 30.0))
    # Retention: finished tasks older than these many seconds are deleted by the workers, in
    # small batches (None keeps them). Env: PQ_RETAIN_COMPLETED / PQ_RETAIN_FAILED ("7d",
    # "12h", "3600", "none"); failed covers cancelled too.
    retain_completed: float | None = field(
        default_factory=lambda: _env_duration("PQ_RETAIN_COMPLETED", 7 * 86400.0)
    )
    retain_failed: float | None = field(
        default_factory=lambda: _env_duration("PQ_RETAIN_FAILED", 30 * 86400.0)
    )
    poll_only: bool = False  # no LISTEN at all (polls every poll_interval)
    # A direct URL to LISTEN on when the database URL goes through a pooler (PgBouncer in
    # transaction mode); without one such a worker polls. Env: PQ_LISTEN_URL.
    listen_url: str | None = field(
        default_factory=lambda: os.environ.get("PQ_LISTEN_URL") or None, repr=False
    )
    burst: bool = False  # exit once nothing is left to run
    # rows claimed beyond the free slots, started without a round trip as slots free up;
    # None: as many as the concurrency, 0: claim only for free slots
    prefetch: int | None = field(default_factory=lambda: _env_optional_int("PQ_PREFETCH"))
    # children forked ahead and waiting, each for exactly one task (see pq/worker/standby.py)
    spares: int = field(default_factory=lambda: _env_int("PQ_SPARES", 0))
    # seconds a spare may wait for a row before it is replaced by a fresh one
    spare_max_idle: float = field(default_factory=lambda: _env_float("PQ_SPARE_MAX_IDLE", 30.0))
    # tasks one child may run in a row (tasks may set their own); 1: a fresh child per task
    tasks_per_child: int = field(default_factory=lambda: _env_int("PQ_TASKS_PER_CHILD", 1))
    # fork the fresh children from a fork server beside the loop (pq/worker/forkserver.py)
    fork_server: bool = field(default_factory=lambda: _env_tristate("PQ_FORK_SERVER") is True)

    @property
    def claim_ahead(self) -> int:
        """How many rows the worker holds claimed beyond its free slots."""
        return self.concurrency if self.prefetch is None else self.prefetch

    metrics_port: int | None = None  # serve Prometheus metrics on this port (metrics extra)
    metrics_host: str = "0.0.0.0"  # the address the metrics port listens on

    @property
    def priority_list(self) -> list[int] | None:
        """The priorities as the SQL parameter wants them: a sorted list, or None for all."""
        return sorted(self.priorities) if self.priorities else None

    def __post_init__(self) -> None:
        object.__setattr__(self, "max_memory", parse_size(self.max_memory))
        if self.max_cpu is not None and self.max_cpu <= 0:
            raise ConfigurationError(f"max_cpu={self.max_cpu}: it must be > 0 CPU seconds")
        if self.concurrency < 1:
            raise ConfigurationError(f"concurrency={self.concurrency}: it must be at least 1")
        self._check_child_supply()
        if self.poll_interval <= 0:
            raise ConfigurationError(f"poll_interval={self.poll_interval}: it must be > 0")
        if self.max_runtime is not None and self.max_runtime <= 0:
            raise ConfigurationError(f"max_runtime={self.max_runtime}: it must be > 0 seconds")
        if not self.queues:
            raise ConfigurationError("a worker needs at least one queue")
        if self.lease <= self.heartbeat_interval:
            raise ConfigurationError(
                f"lease={self.lease}s must be longer than heartbeat_interval="
                f"{self.heartbeat_interval}s, or live workers would be taken for lost"
            )

    def _check_child_supply(self) -> None:
        """prefetch, spares, tasks_per_child: how the worker keeps rows and children ready."""
        if self.prefetch is not None and self.prefetch < 0:
            raise ConfigurationError(f"prefetch={self.prefetch}: it must be 0 or more")
        if self.spares < 0:
            raise ConfigurationError(f"spares={self.spares}: it must be 0 or more")
        if self.tasks_per_child < 1:
            raise ConfigurationError(
                f"tasks_per_child={self.tasks_per_child}: it must be at least 1"
            )
        if self.spare_max_idle <= 0:
            raise ConfigurationError(f"spare_max_idle={self.spare_max_idle}: it must be > 0")


def build_worker_settings(
    *,
    priorities: set[Any] | None = None,
    queues: list[str] | None = None,
    **values: Any,
) -> WorkerSettings:
    """WorkerSettings from keyword options where None means "not given" (CLI, run_worker)."""
    from pq.models import coerce_priority

    given = {k: v for k, v in values.items() if v is not None}
    if queues:
        given["queues"] = tuple(queues)
    if priorities:
        given["priorities"] = frozenset(coerce_priority(p) for p in priorities)
    return WorkerSettings(**given)


# Sizes of memory limits: shared by task options, worker settings and the child's limits.
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]i?b?|b)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


def parse_size(value: str | int | None) -> int | None:
    """'512MiB', '2G', '1.5GiB', '1000000' or an int (bytes) -> bytes. Units are binary."""
    if value is None or isinstance(value, int):
        if isinstance(value, int) and value <= 0:
            raise ConfigurationError(f"max_memory={value}: it must be a positive size")
        return value
    match = _SIZE.match(value)
    if not match:
        raise ConfigurationError(
            f"max_memory={value!r} is not a size: write e.g. 512MiB, 2GiB or a number of bytes"
        )
    number, unit = match.groups()
    size = int(float(number) * _UNITS[(unit or "")[:1].lower()])
    if size <= 0:
        raise ConfigurationError(f"max_memory={value!r}: it must be a positive size")
    return size


def format_size(size: int) -> str:
    for unit, factor in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if size >= factor:
            return f"{size / factor:g} {unit}"
    return f"{size} B"
