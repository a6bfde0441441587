"""Pure: whether a finished attempt is tried again, and when."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from pq.models import OutcomeKind

# Outcomes retried by default when a task has retries left. A crash or a memory kill is not:
# a task that keeps killing its child would otherwise burn the fleet's fork budget forever.
DEFAULT_RETRY_ON = frozenset(
    {OutcomeKind.EXCEPTION, OutcomeKind.TIMEOUT, OutcomeKind.LOST, OutcomeKind.INTERRUPTED}
)
BACKOFF_BASE = 1.0  # seconds before the first retry
BACKOFF_FACTOR = 2.0
BACKOFF_CAP = 600.0  # never wait more than ten minutes between attempts


def backoff_seconds(attempt: int, *, base: float = BACKOFF_BASE, cap: float = BACKOFF_CAP) -> float:
    """Exponential backoff with full jitter: uniform in [0.5, 1] x min(cap, base * 2^(n-1))."""
    ceiling = min(cap, base * BACKOFF_FACTOR ** max(0, attempt - 1))
    return ceiling * random.uniform(0.5, 1.0)


def retry_at(
    row: dict[str, Any], kind: OutcomeKind, countdown: float | None = None
) -> datetime | None:
    """When to run the next attempt, or None when this attempt is the last."""
    if kind in (OutcomeKind.SUCCESS, OutcomeKind.CANCELLED):
        return None
    if int(row["attempts"]) >= int(row["max_attempts"]):
        return None
    retry_on = row.get("options", {}).get("retry_on")
    allowed = {OutcomeKind(k) for k in retry_on} if retry_on is not None else DEFAULT_RETRY_ON
    if kind not in allowed:
        return None
    delay = countdown if countdown is not None else backoff_seconds(int(row["attempts"]))
    return datetime.now(UTC) + timedelta(seconds=delay)
