"""What `cancel()` returning True promises for a running task (docs/tasks.md#cancelling): the
stop request is recorded; a task that ends on its own before its worker acts keeps that
ending, a success included."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from pathlib import Path
from subprocess import Popen

from pq import PQ, OutcomeKind, TaskStatus
from taskmods import hostile
from waiting import wait_until


def _live_children(pid: int) -> list[int]:
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{name}/stat").read_bytes()
        except OSError:
            continue
        state, ppid = stat[stat.rfind(b")") + 2 :].split()[:2]
        if int(ppid) == pid and state not in (b"Z", b"X"):
            found.append(int(name))
    return found


def test_cancel_true_for_a_running_task_that_then_completes_keeps_it_completed(
    db_url: str, tmp_path: Path, start_pq: Callable[..., Popen[str]]
) -> None:
    app = PQ(db_url)
    marker, release = tmp_path / "running", tmp_path / "release"
    handle = app.task(hostile.hold_until_released).delay(str(marker), str(release))
    worker = start_pq("worker", "taskmods.opsapp:app", db_url=db_url)
    try:
        wait_until(marker.exists, timeout=60)
        # The worker parent frozen: the task ends on its own before the worker can act.
        os.kill(worker.pid, signal.SIGSTOP)
        assert handle.cancel() is True  # running: the request is recorded
        assert handle.status() is TaskStatus.RUNNING
        release.touch()
        wait_until(lambda: not _live_children(worker.pid), timeout=30)  # the child exited
        os.kill(worker.pid, signal.SIGCONT)
        ended = wait_until(
            lambda: (t := handle.snapshot()).status is not TaskStatus.RUNNING and t, timeout=30
        )
    finally:
        os.kill(worker.pid, signal.SIGCONT)
        worker.terminate()
        worker.wait(30)
        app.close()
    # True did not promise "it will not complete": the success the task reported stands.
    assert ended.status is TaskStatus.COMPLETED
    assert ended.outcome is OutcomeKind.SUCCESS
    assert ended.result == "released"
    assert handle.cancel() is False  # it has ended: nothing to cancel
