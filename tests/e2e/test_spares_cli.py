"""`pq worker --spares N`: the spares wait as children of the worker and never outlive it,
whether it stops cleanly or is killed with SIGKILL."""

from __future__ import annotations

import os
from pathlib import Path

from workerproc import WorkerProcess, workers

from pq import PQ, TaskStatus
from taskmods import reliability
from waiting import wait_until


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:  # a zombie waiting for whoever reaps it is gone too
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def _spares(worker: WorkerProcess, count: int) -> list[int]:
    return wait_until(lambda: len(c := worker.children()) == count and c, timeout=60)


def test_spares_wait_and_leave_with_a_clean_stop(db_url: str, tmp_path: Path) -> None:
    with workers(db_url, tmp_path, 1, "--spares", "2") as (worker,):
        spares = _spares(worker, 2)
        assert worker.stop() == 0
    assert all(_gone(pid) for pid in spares)


def test_spares_exit_by_themselves_when_their_worker_is_killed(
    app: PQ, db_url: str, tmp_path: Path
) -> None:
    with workers(db_url, tmp_path, 1, "--spares", "2") as (worker,):
        spares = _spares(worker, 2)
        worker.kill()  # SIGKILL: nothing of the worker's runs
        wait_until(lambda: all(_gone(pid) for pid in spares), timeout=30)
    # and a later worker with spares runs the work as usual
    task_id = app.enqueue(reliability.count_side_effect, str(tmp_path / "count"), 7)
    with workers(db_url, tmp_path, 1, "--spares", "1"):
        wait_until(lambda: app.get_task(task_id).status is TaskStatus.COMPLETED, 60)  # type: ignore[union-attr]
