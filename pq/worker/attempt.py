"""One running attempt as the parent tracks it, and the record written when it ends.

No SQL and no fork here: the worker owns the processes; this module holds what is known
about each one (its report, read off its pipe) and the shape of the row `task_finish` writes.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pq.models import OutcomeKind
from pq.retry import retry_at
from pq.serialization import storable_text
from pq.store.staging import RawJson
from pq.worker.limits import Limits
from pq.worker.outcome import KillReason, Outcome, Usage, summary

log = logging.getLogger("pq.worker")


@dataclass
class Child:
    """One forked child and what the parent knows about it."""

    pid: int
    row: dict[str, Any]
    read_fd: int
    started: float
    max_runtime: float | None
    limits: Limits = field(default_factory=Limits)
    killed_for: KillReason | None = None
    report: bytearray = field(default_factory=bytearray)
    pipe_open: bool = True
    reuse: int = 1  # tasks_per_child of a reused child (its reports are framed), else 1
    handoff_fd: int = -1  # a reused child's handoff pipe, for its next row
    via_server: bool = False  # forked by the fork server, not by us (pq/worker/forkserver.py)

    @property
    def deadline(self) -> float | None:
        return None if self.max_runtime is None else self.started + self.max_runtime

    def read_available(self) -> bool:
        """Reads what the pipe holds now (a report may exceed one pipe buffer).

        Returns False once the child closed its end (EOF).
        """
        while self.pipe_open:
            try:
                chunk = os.read(self.read_fd, 65536)
            except BlockingIOError:
                return True
            if not chunk:
                return False
            self.report += chunk
        return False

    def close_pipe(self) -> None:
        if self.pipe_open:
            self.pipe_open = False
            os.close(self.read_fd)


def parse_report(data: bytes | bytearray) -> dict[str, Any] | None:
    """The child's report; a large result that follows it after a newline (see
    pq/worker/child.py) is kept as the bytes it came in (RawJson), not decoded."""
    if not data:
        return None
    newline = data.find(b"\n")
    try:
        report = json.loads(data if newline < 0 else data[:newline])
    except ValueError:
        return None  # cut short by a kill in the middle of writing
    if not isinstance(report, dict):
        return None
    if newline >= 0:
        report["result"] = RawJson(memoryview(data)[newline + 1 :])
    return report


def _next_status(row: dict[str, Any], outcome: Outcome) -> tuple[str, datetime | None]:
    if outcome.kind is OutcomeKind.SUCCESS:
        return "completed", None
    if outcome.kind is OutcomeKind.CANCELLED:
        return "cancelled", None
    try:
        next_try = retry_at(
            row, outcome.kind, outcome.retry_countdown, requested=outcome.retry_requested
        )
    except Exception as exc:  # a row's retry options are written by whoever wrote the row
        log.warning("task %s: not retried, its retry options are invalid (%s)", row["id"], exc)
        return "failed", None
    return ("pending" if next_try is not None else "failed"), next_try


def finish_record(row: dict[str, Any], outcome: Outcome, usage: Usage) -> dict[str, Any]:
    """The row `task_finish` writes for an ended attempt, with its history entry.

    It is fenced by the worker id the row was claimed with (not the worker's current id: a
    worker that had to register again must not record attempts of its old identity).
    """
    status, next_try = _next_status(row, outcome)
    error = outcome.error
    if outcome.kind is not OutcomeKind.SUCCESS:
        heading = summary(outcome, usage, int(row["attempts"]), int(row["max_attempts"]))
        if outcome.retry_requested and next_try is None:
            heading += " pq.Retry was raised but no attempts are left (set retries= on the task)"
        error = f"{heading}\n{error}" if error else heading
    return {
        "id": row["id"],
        "attempt": row["attempts"],
        "worker_id": row["worker_id"],
        "status": status,
        "outcome": outcome.kind.value,
        "error": error,
        "result": outcome.result,
        "retry_at": next_try.isoformat() if next_try else None,
        "flow": row.get("flow") is not None,  # its completion writes a workflow link
        "record": {
            "attempt": row["attempts"],
            "outcome": outcome.kind.value,
            "error": error,
            "exit_code": outcome.exit_code,
            "signal": outcome.signal,
            "duration": usage.duration,
            "max_rss_kib": usage.max_rss_kib,
            "cpu_seconds": usage.cpu_seconds,
            "worker_id": row["worker_id"],
            "finished_at": datetime.now(UTC).isoformat(),
        },
    }


def unstorable(record: dict[str, Any], exc: BaseException) -> dict[str, Any]:
    """A failure that replaces a record the database refused (its result or error text)."""
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    error = storable_text(
        f"the outcome of attempt {record['attempt']} ({record['outcome']}) could not be "
        f"stored: the database refused it ({reason})"
    )
    entry = {**record["record"], "outcome": OutcomeKind.EXCEPTION.value, "error": error}
    return {
        **record,
        "status": "failed",
        "outcome": OutcomeKind.EXCEPTION.value,
        "error": error,
        "result": None,
        "retry_at": None,
        "record": entry,
    }


def log_outcome(row: dict[str, Any], outcome: Outcome, usage: Usage) -> None:
    """One line per ended attempt; its fields also go in `record.pq` for --log-format json."""
    level = logging.INFO if outcome.kind is OutcomeKind.SUCCESS else logging.WARNING
    if not log.isEnabledFor(level):
        return  # nothing formatted per task when the level hides it
    last_error = None if outcome.error is None else outcome.error.strip().splitlines()[-1]
    fields = {
        "task_id": row["id"],
        "name": row["name"],
        "attempt": row["attempts"],
        "queue": row["queue"],
        "outcome": outcome.kind.value,
        "duration": round(usage.duration, 6),
        "max_rss_kib": usage.max_rss_kib,
        "worker_id": row["worker_id"],
    }
    if last_error is not None:
        fields["error"] = last_error
    log.log(
        level,
        "task %s (%s) attempt %s: %s in %.3fs%s",
        row["id"],
        row["name"],
        row["attempts"],
        outcome.kind.value,
        usage.duration,
        "" if last_error is None else f": {last_error}",
        extra={"pq": fields},
    )
