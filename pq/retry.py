"""Pure: whether a finished attempt is tried again, and when.

The policy travels in the row's options (so a call can override the task's defaults and a
worker needs no registry to decide): `retry_on` (outcome kinds) and `backoff` (a dict of
Backoff's fields). `max_attempts` on the row is retries + 1.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pq.errors import ConfigurationError
from pq.models import OutcomeKind

# Outcomes retried by default when a task has retries left. A crash or a memory kill is not:
# a poison task that keeps killing its child would otherwise burn every worker's slots again
# and again; opt in with retry_on= when a crash is known to be transient.
DEFAULT_RETRY_ON = frozenset(
    {OutcomeKind.EXCEPTION, OutcomeKind.TIMEOUT, OutcomeKind.LOST, OutcomeKind.INTERRUPTED}
)
_NEVER_RETRIED = frozenset({OutcomeKind.SUCCESS, OutcomeKind.CANCELLED})


class Retry(Exception):  # a request, not an error: `raise pq.Retry(countdown=5)`
    """Raised by task code to ask for another attempt, after `countdown` seconds if given.

    It uses one of the task's attempts (retries=N); with none left the task fails.
    """

    def __init__(self, countdown: float | None = None, reason: str = "") -> None:
        if countdown is not None and countdown < 0:
            raise ConfigurationError(f"Retry(countdown={countdown}): it must be >= 0 seconds")
        super().__init__(reason or "the task asked to be retried")
        self.countdown = countdown
        self.reason = reason


@dataclass(frozen=True)
class Backoff:
    """Delay before attempt n+1: min(cap, base * factor^(n-1)), times a jitter in [0.5, 1]."""

    base: float = 1.0
    factor: float = 2.0
    cap: float = 600.0
    jitter: bool = True

    def __post_init__(self) -> None:
        if self.base < 0 or self.cap < 0 or self.factor < 1:
            raise ConfigurationError(f"{self}: base and cap must be >= 0 seconds and factor >= 1")

    def seconds(self, attempt: int) -> float:
        ceiling = min(self.cap, self.base * self.factor ** max(0, attempt - 1))
        return ceiling * random.uniform(0.5, 1.0) if self.jitter else ceiling

    def to_options(self) -> dict[str, Any]:
        return asdict(self)


DEFAULT_BACKOFF = Backoff()


def coerce_backoff(value: Backoff | float | None) -> Backoff | None:
    """`backoff=5` means base 5 s with the default factor, cap and jitter."""
    if value is None or isinstance(value, Backoff):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigurationError(
            f"backoff={value!r}: pass seconds (e.g. backoff=5) or pq.Backoff(base=..., cap=...)"
        )
    return Backoff(base=float(value))


def coerce_retry_on(kinds: Iterable[OutcomeKind | str] | None) -> tuple[str, ...] | None:
    """Validates retry_on= and returns the kinds' names, sorted (as stored in the row)."""
    if kinds is None:
        return None
    if isinstance(kinds, str | OutcomeKind):
        kinds = (kinds,)
    names = set()
    for kind in kinds:
        try:
            names.add(OutcomeKind(kind).value)
        except ValueError:
            allowed = ", ".join(k.value for k in OutcomeKind if k not in _NEVER_RETRIED)
            raise ConfigurationError(
                f"retry_on: unknown outcome {kind!r}; use some of {allowed}"
            ) from None
    return tuple(sorted(names))


def backoff_seconds(attempt: int, options: dict[str, Any] | None = None) -> float:
    spec = (options or {}).get("backoff")
    policy = Backoff(**spec) if isinstance(spec, dict) else DEFAULT_BACKOFF
    return policy.seconds(attempt)


def retry_at(
    row: dict[str, Any],
    kind: OutcomeKind,
    countdown: float | None = None,
    *,
    requested: bool = False,
) -> datetime | None:
    """When to run the next attempt, or None when this attempt is the last.

    `requested` is a `raise pq.Retry(...)`: retried whatever retry_on says, while attempts last.
    """
    if kind in _NEVER_RETRIED:
        return None
    if int(row["attempts"]) >= int(row["max_attempts"]):
        return None
    options = row.get("options") or {}
    retry_on = options.get("retry_on")
    allowed = {OutcomeKind(k) for k in retry_on} if retry_on is not None else DEFAULT_RETRY_ON
    if kind not in allowed and not requested:
        return None
    delay = countdown if countdown is not None else backoff_seconds(int(row["attempts"]), options)
    return datetime.now(UTC) + timedelta(seconds=delay)
