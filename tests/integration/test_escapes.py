"""A task cannot escape its limits by leaving its process group."""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path

import pytest

from pq import PQ, OutcomeKind, TaskStatus
from taskmods import hostile
from waiting import wait_until


# On the code before, the worker waited for this child forever (the suite timeout ends it).
def test_a_task_that_left_its_process_group_is_still_killed_at_max_runtime(app: PQ) -> None:
    task = app.task(max_runtime=1)(hostile.leave_own_group_then_sleep)
    handle = task.delay(3600)
    assert app.run_worker(burst=True) == 1
    ended = handle.snapshot()
    assert ended.status is TaskStatus.FAILED
    assert ended.outcome is OutcomeKind.TIMEOUT


def _running(pid: int) -> bool:
    """Whether `pid` is a live process (a zombie waiting for init to reap it is not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return False
    return stat[stat.rfind(b")") + 2 :].split()[0] not in (b"Z", b"X")


def _wait_for_pid(pidfile: Path) -> int:
    """The pid the task wrote (whole: an empty or partly written file is not a pid yet)."""
    return int(wait_until(lambda: pidfile.exists() and pidfile.read_text().strip(), timeout=5))


# On the code before, the sleep outlived the timeout by its whole minute (start_new_session
# puts it out of the child's process group; the double fork makes it nobody's child).
@pytest.mark.skipif(
    not sys.platform.startswith("linux"),
    reason="the tree kill needs Linux (subreaper, /proc); elsewhere it is documented as absent",
)
@pytest.mark.parametrize("how", ["start_new_session", "double_fork"])
@pytest.mark.parametrize(
    "worker",
    [{}, {"spares": 1}, {"tasks_per_child": 2}],
    ids=["forked", "spare", "reused"],
)
def test_subprocesses_that_left_the_tasks_session_die_at_its_deadline(
    app: PQ, tmp_path: Path, how: str, worker: dict[str, int]
) -> None:
    start = (
        hostile.start_detached_sleep if how == "start_new_session" else hostile.start_daemon_sleep
    )
    pidfile = tmp_path / "sleep.pid"
    escaping = app.task(max_runtime=2)(start).delay(str(pidfile), 3600)
    after = app.task(hostile.noop).delay()
    try:
        assert app.run_worker(burst=True, **worker) == 2  # type: ignore[arg-type]
        sleep_pid = _wait_for_pid(pidfile)
        assert not _running(sleep_pid), "the task's subprocess outlived its deadline"
    finally:
        if pidfile.exists() and _running(int(pidfile.read_text())):
            os.kill(int(pidfile.read_text()), signal.SIGKILL)
    ended = escaping.snapshot()
    assert ended.status is TaskStatus.FAILED
    assert ended.outcome is OutcomeKind.TIMEOUT
    assert after.snapshot().status is TaskStatus.COMPLETED  # the worker carried on


@pytest.mark.skipif(
    not sys.platform.startswith("linux"),
    reason="the tree kill needs Linux (subreaper, /proc); elsewhere it is documented as absent",
)
def test_a_cancel_kills_the_subprocesses_that_left_the_tasks_session(
    app: PQ, tmp_path: Path
) -> None:
    pidfile = tmp_path / "sleep.pid"
    handle = app.task(hostile.start_daemon_sleep).delay(str(pidfile), 3600)
    canceller = PQ(app.database_url)

    def cancel_once_started() -> None:
        try:
            wait_until(pidfile.exists, timeout=60)
        finally:  # cancel even if it never started, so the worker below does not hang
            canceller.cancel(handle.id)

    thread = threading.Thread(target=cancel_once_started, daemon=True)
    thread.start()
    try:
        assert app.run_worker(burst=True) == 1
        thread.join(30)
        sleep_pid = _wait_for_pid(pidfile)
        assert not _running(sleep_pid), "the cancelled task's daemon outlived it"
    finally:
        canceller.close()
        if pidfile.exists() and _running(int(pidfile.read_text())):
            os.kill(int(pidfile.read_text()), signal.SIGKILL)
    assert handle.snapshot().status is TaskStatus.CANCELLED
