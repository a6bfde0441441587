"""Children die with their worker, and a stop signal that reaches the task too (systemd's
control-group kill) is an interruption, not a crash."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from workerproc import WorkerProcess, kill_orphans, workers

from pq import PQ, OutcomeKind, TaskStatus
from taskmods import e2eapp
from waiting import wait_until


def _running(pid: int) -> bool:
    """Alive and not a zombie waiting for whoever adopted it."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return fields[0] != "Z"


def _sigterm_is_default(pid: int) -> bool:
    """The child has reset the SIGTERM handler it inherited from the worker (right after the
    fork it still has the worker's, which only sets a flag)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigCgt:"):
            return not int(line.split()[1], 16) & (1 << (signal.SIGTERM - 1))
    return False


def test_a_child_dies_when_its_worker_is_killed_9(app: PQ, db_url: str, tmp_path: Path) -> None:
    app.enqueue(e2eapp.slow_no_retry, 60)
    worker = WorkerProcess(db_url, tmp_path / "worker.log")
    children: list[int] = []
    try:
        children = wait_until(worker.children, timeout=20)
        worker.kill()  # SIGKILL: the parent cannot do anything about its children
        wait_until(lambda: not any(_running(pid) for pid in children), timeout=10)
    finally:
        kill_orphans(children)


def test_sigterm_to_worker_and_task_together_is_an_interruption(
    app: PQ, db_url: str, tmp_path: Path
) -> None:
    task_id = app.enqueue(e2eapp.slow, 60)  # retries=1: an interruption is retried
    with workers(db_url, tmp_path) as (worker,):
        (child,) = wait_until(worker.children, timeout=20)
        wait_until(lambda: _sigterm_is_default(child), timeout=20)
        # What `systemctl stop` does with KillMode=control-group: every process gets SIGTERM.
        worker.signal(signal.SIGTERM)
        os.kill(child, signal.SIGTERM)
        assert worker.proc.wait(30) == 0
    task = app.get_task(task_id)
    assert task is not None
    assert task.history[0].outcome is OutcomeKind.INTERRUPTED
    assert task.status is TaskStatus.PENDING  # retried, as after a SIGTERM to the worker alone
