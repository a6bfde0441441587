"""How the parent names a child's end, from synthetic wait statuses."""

import signal

from pq.models import OutcomeKind
from pq.worker.outcome import KillReason, classify


def exited(code: int) -> int:
    return code << 8


def signalled(signum: int) -> int:
    return signum


def test_report_of_success_is_success() -> None:
    outcome = classify(exited(0), {"ok": True, "result": 3}, None)
    assert outcome.kind is OutcomeKind.SUCCESS
    assert outcome.result == 3


def test_reported_exception_keeps_its_traceback() -> None:
    outcome = classify(exited(0), {"ok": False, "kind": "exception", "error": "Traceback..."}, None)
    assert outcome.kind is OutcomeKind.EXCEPTION
    assert outcome.error == "Traceback..."


def test_exit_without_report_is_a_crash_naming_the_code() -> None:
    outcome = classify(exited(3), None, None)
    assert outcome.kind is OutcomeKind.CRASH
    assert outcome.exit_code == 3
    assert "code 3" in (outcome.error or "")


def test_segfault_is_a_crash_naming_the_signal() -> None:
    outcome = classify(signalled(signal.SIGSEGV), None, None)
    assert outcome.kind is OutcomeKind.CRASH
    assert "SIGSEGV" in (outcome.error or "")


def test_sigkill_the_parent_did_not_send_means_memory() -> None:
    outcome = classify(signalled(signal.SIGKILL), None, None)
    assert outcome.kind is OutcomeKind.MEMORY


def test_kill_for_timeout_is_a_timeout_naming_the_limit() -> None:
    outcome = classify(signalled(signal.SIGKILL), None, KillReason.TIMEOUT, max_runtime=2.5)
    assert outcome.kind is OutcomeKind.TIMEOUT
    assert "2.5s" in (outcome.error or "")


def test_kill_for_cancel_and_shutdown() -> None:
    assert classify(signalled(9), None, KillReason.CANCEL).kind is OutcomeKind.CANCELLED
    assert classify(signalled(9), None, KillReason.SHUTDOWN).kind is OutcomeKind.INTERRUPTED


def test_a_report_that_beat_the_kill_wins() -> None:
    outcome = classify(exited(0), {"ok": True, "result": None}, KillReason.TIMEOUT)
    assert outcome.kind is OutcomeKind.SUCCESS
