"""Pure: how one child ended, from its wait status, rusage and report, into an Outcome.

No I/O here, so every branch is unit-tested with synthetic statuses.
"""

from __future__ import annotations

import enum
import os
import signal
from dataclasses import dataclass
from typing import Any

from pq.models import OutcomeKind


class KillReason(enum.Enum):
    """Why the parent itself killed a child; a kill the parent did not send means memory."""

    TIMEOUT = "timeout"
    CANCEL = "cancel"
    SHUTDOWN = "shutdown"
    LEASE = "lease"  # the lease could not be renewed (database unreachable): see upkeep.py


@dataclass(frozen=True)
class Usage:
    duration: float  # wall seconds from fork to reap
    max_rss_kib: int | None
    cpu_seconds: float | None


@dataclass(frozen=True)
class Outcome:
    kind: OutcomeKind
    error: str | None = None
    result: Any = None  # encoded (JSON-compatible) return value on success
    exit_code: int | None = None
    signal: int | None = None
    retry_countdown: float | None = None  # from `raise pq.Retry(countdown=...)`
    retry_requested: bool = False  # the task raised pq.Retry


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def classify(
    wait_status: int,
    report: dict[str, Any] | None,
    killed_for: KillReason | None,
    *,
    max_runtime: float | None = None,
) -> Outcome:
    """Decides the outcome kind; a child's own report wins when it got one out in time."""
    if os.WIFSIGNALED(wait_status):
        return _from_signal(os.WTERMSIG(wait_status), killed_for, max_runtime)
    code = os.waitstatus_to_exitcode(wait_status)
    if report is not None:
        return _from_report(report, code)
    if killed_for is not None:
        return _from_kill(killed_for, None, max_runtime, code)
    return Outcome(
        OutcomeKind.CRASH,
        error=f"the child exited with code {code} without reporting a result "
        "(os._exit or a crash in native code)",
        exit_code=code,
    )


def _from_report(report: dict[str, Any], code: int) -> Outcome:
    if report.get("ok"):
        return Outcome(OutcomeKind.SUCCESS, result=report.get("result"), exit_code=code)
    kind = OutcomeKind(report.get("kind", OutcomeKind.EXCEPTION.value))
    countdown = report.get("retry_countdown")
    return Outcome(
        kind,
        error=report.get("error"),
        exit_code=code,
        retry_countdown=float(countdown) if countdown is not None else None,
        retry_requested=bool(report.get("retry")),
    )


def _from_signal(signum: int, killed_for: KillReason | None, max_runtime: float | None) -> Outcome:
    if killed_for is not None:
        return _from_kill(killed_for, signum, max_runtime, None)
    name = _signal_name(signum)
    if signum == signal.SIGXCPU:
        return Outcome(
            OutcomeKind.TIMEOUT,
            error="the task used more CPU time than its max_cpu limit (SIGXCPU)",
            signal=signum,
        )
    if signum == signal.SIGKILL:
        return Outcome(
            OutcomeKind.MEMORY,
            error="the child was killed by SIGKILL that the worker did not send: most likely "
            "the kernel's out-of-memory killer (check the host's memory and max_memory)",
            signal=signum,
        )
    return Outcome(OutcomeKind.CRASH, error=f"the child was killed by {name}", signal=signum)


def _from_kill(
    reason: KillReason, signum: int | None, max_runtime: float | None, code: int | None
) -> Outcome:
    if reason is KillReason.TIMEOUT:
        limit = f"{max_runtime:g}s" if max_runtime is not None else "its limit"
        return Outcome(
            OutcomeKind.TIMEOUT,
            error=f"the task ran longer than max_runtime ({limit}) and was killed",
            signal=signum,
            exit_code=code,
        )
    if reason is KillReason.CANCEL:
        return Outcome(OutcomeKind.CANCELLED, error="cancelled while running", signal=signum)
    if reason is KillReason.LEASE:
        return Outcome(
            OutcomeKind.INTERRUPTED,
            error="the worker could not reach the database to renew its lease and stopped the "
            "task before another worker could take it over",
            signal=signum,
            exit_code=code,
        )
    return Outcome(
        OutcomeKind.INTERRUPTED,
        error="the worker shut down before the task finished",
        signal=signum,
        exit_code=code,
    )


def usage_of(rusage: Any, duration: float) -> Usage:
    """Peak RSS (KiB on Linux) and user+system CPU seconds from os.wait4's rusage."""
    return Usage(
        duration=round(duration, 6),
        max_rss_kib=int(rusage.ru_maxrss),
        cpu_seconds=round(float(rusage.ru_utime + rusage.ru_stime), 6),
    )


def summary(outcome: Outcome, usage: Usage, attempt: int, max_attempts: int) -> str:
    """One line heading an attempt's error text: how it ended and what it used."""
    parts = [f"attempt {attempt} of {max_attempts}: {outcome.kind.value}"]
    if outcome.signal is not None:
        parts.append(f"signal {_signal_name(outcome.signal)}")
    elif outcome.exit_code is not None:
        parts.append(f"exit code {outcome.exit_code}")
    parts.append(f"{usage.duration:.3f}s")
    if usage.max_rss_kib is not None:
        parts.append(f"peak RSS {usage.max_rss_kib / 1024:.1f} MiB")
    if usage.cpu_seconds is not None:
        parts.append(f"CPU {usage.cpu_seconds:.3f}s")
    return "[" + ", ".join(parts) + "]"
