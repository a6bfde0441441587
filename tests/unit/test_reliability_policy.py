"""The pure parts of reliability: retry decisions, backoff, sizes, limits and error headings."""

from __future__ import annotations

import signal
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pq import Backoff, OutcomeKind
from pq.errors import ConfigurationError
from pq.producer.task import TaskOptions
from pq.retry import Retry, coerce_retry_on, retry_at
from pq.settings import WorkerSettings, parse_size
from pq.worker.limits import Limits
from pq.worker.outcome import Outcome, Usage, classify, summary


def row(attempts: int, max_attempts: int, **options: Any) -> dict[str, Any]:
    return {"attempts": attempts, "max_attempts": max_attempts, "options": options}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("512MiB", 512 * 1024**2),
        ("512M", 512 * 1024**2),
        ("2GiB", 2 * 1024**3),
        ("1.5g", int(1.5 * 1024**3)),
        ("64kb", 64 * 1024),
        ("1000", 1000),
        (4096, 4096),
    ],
)
def test_memory_sizes_accept_binary_units(text: str | int, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["lots", "12 parsecs", "-5MiB", "0", 0])
def test_bad_memory_sizes_are_refused_with_an_example(text: str | int) -> None:
    with pytest.raises(ConfigurationError, match="max_memory"):
        parse_size(text)


def test_worker_max_memory_takes_a_size_string() -> None:
    assert WorkerSettings(max_memory="1GiB").max_memory == 1024**3  # type: ignore[arg-type]


def test_task_limits_win_over_worker_defaults() -> None:
    limits = Limits.for_task({"max_memory": 100}, max_memory=200, max_cpu=5)
    assert limits == Limits(max_memory=100, max_cpu=5)
    assert "max_memory=" in Limits(max_memory=300 * 1024**2).memory_message()
    assert "300 MiB" in Limits(max_memory=300 * 1024**2).memory_message()


def test_default_policy_retries_exceptions_but_not_crashes_or_memory() -> None:
    assert retry_at(row(1, 3), OutcomeKind.EXCEPTION) is not None
    assert retry_at(row(1, 3), OutcomeKind.LOST) is not None
    assert retry_at(row(1, 3), OutcomeKind.CRASH) is None
    assert retry_at(row(1, 3), OutcomeKind.MEMORY) is None
    assert retry_at(row(1, 3), OutcomeKind.CANCELLED) is None


def test_the_last_attempt_is_never_retried() -> None:
    assert retry_at(row(3, 3), OutcomeKind.EXCEPTION) is None
    assert retry_at(row(3, 3), OutcomeKind.EXCEPTION, requested=True) is None


def test_retry_on_replaces_the_default_kinds() -> None:
    only_crash = row(1, 3, retry_on=["crash"])
    assert retry_at(only_crash, OutcomeKind.CRASH) is not None
    assert retry_at(only_crash, OutcomeKind.EXCEPTION) is None
    # an explicit pq.Retry is honoured whatever retry_on says
    assert retry_at(only_crash, OutcomeKind.EXCEPTION, requested=True) is not None


def test_a_countdown_sets_the_next_attempt_exactly() -> None:
    when = retry_at(row(1, 2), OutcomeKind.EXCEPTION, countdown=30)
    assert when is not None
    assert abs((when - datetime.now(UTC)) - timedelta(seconds=30)) < timedelta(seconds=2)


def test_backoff_grows_exponentially_with_jitter_up_to_its_cap() -> None:
    policy = Backoff(base=1, factor=2, cap=10)
    for attempt, ceiling in [(1, 1), (2, 2), (3, 4), (4, 8), (5, 10), (20, 10)]:
        value = policy.seconds(attempt)
        assert ceiling * 0.5 <= value <= ceiling
    assert Backoff(base=3, jitter=False).seconds(2) == 6


def test_a_task_backoff_is_stored_with_the_row_and_used() -> None:
    options = TaskOptions(backoff=100, retries=1).row_options()  # type: ignore[arg-type]
    when = retry_at(row(1, 2, **options), OutcomeKind.EXCEPTION)
    assert when is not None
    assert when - datetime.now(UTC) >= timedelta(seconds=49)


def test_retry_on_names_are_validated() -> None:
    assert coerce_retry_on(["crash", OutcomeKind.TIMEOUT]) == ("crash", "timeout")
    with pytest.raises(ConfigurationError, match="retry_on"):
        coerce_retry_on(["explosion"])


def test_retry_countdown_must_not_be_negative() -> None:
    with pytest.raises(ConfigurationError):
        Retry(countdown=-1)


def test_sigxcpu_is_a_timeout_naming_max_cpu() -> None:
    status = signal.SIGXCPU  # a wait status for "killed by SIGXCPU" is the signal number
    outcome = classify(status, None, None)
    assert outcome.kind is OutcomeKind.TIMEOUT and "max_cpu" in (outcome.error or "")


def test_a_retry_report_is_read_as_a_requested_retry() -> None:
    report = {"ok": False, "kind": "exception", "error": "x", "retry": True, "retry_countdown": 3}
    outcome = classify(0, report, None)
    assert outcome.retry_requested and outcome.retry_countdown == 3


def test_the_error_heading_shows_resource_use() -> None:
    outcome = Outcome(OutcomeKind.CRASH, signal=signal.SIGSEGV)
    text = summary(outcome, Usage(0.25, 20480, 0.125), attempt=2, max_attempts=3)
    assert text == "[attempt 2 of 3: crash, signal SIGSEGV, 0.250s, peak RSS 20.0 MiB, CPU 0.125s]"
