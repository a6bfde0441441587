"""The reliability options of `pq worker`: accepted, applied, and refused clearly when wrong."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from workerproc import PQ_BIN, ROOT, workers

from pq import PQ, OutcomeKind, TaskStatus
from taskmods import reliability
from waiting import wait_until


def test_a_bad_max_memory_is_refused_with_an_example(db_url: str) -> None:
    env = {**os.environ, "PQ_DATABASE_URL": db_url, "PYTHONPATH": str(ROOT / "tests")}
    done = subprocess.run(
        [str(PQ_BIN), "worker", "taskmods.e2eapp:app", "--max-memory", "lots"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert "max_memory='lots' is not a size" in done.stderr
    assert "512MiB" in done.stderr
    assert "Traceback" not in done.stderr


def test_max_memory_on_the_command_line_limits_each_child(
    app: PQ, db_url: str, tmp_path: Path
) -> None:
    task_id = app.enqueue(reliability.hog_memory)
    with workers(db_url, tmp_path, 1, "--max-memory", "256MiB"):
        wait_until(
            lambda: app.get_task(task_id).status is TaskStatus.FAILED,  # type: ignore[union-attr]
            timeout=30,
        )
    task = app.get_task(task_id)
    assert task is not None and task.outcome is OutcomeKind.MEMORY
    assert "max_memory=256 MiB" in (task.error or "")
