"""docs/getting-started.md's first task, done as the page says: `pq migrate myapp:app`, a
`pq worker myapp:app`, and the interactive session (run as a doctest) getting 5 back. The page
shows examples/first_task/myapp.py and session.txt, so what it says is what this runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from workerproc import WorkerProcess

from pqcli import run_pq

FIRST_TASK = Path(__file__).resolve().parents[2] / "examples" / "first_task"


def test_the_first_task_of_getting_started(db_url: str, tmp_path: Path) -> None:
    env = {"PYTHONPATH": str(FIRST_TASK)}
    migrated = run_pq("migrate", "myapp:app", db_url=db_url, env=env)
    assert migrated.returncode == 0, migrated.stderr

    worker = WorkerProcess(db_url, tmp_path / "worker.log", env=env, app="myapp:app")
    try:
        session = subprocess.run(
            [sys.executable, "-m", "doctest", "-v", str(FIRST_TASK / "session.txt")],
            env={**env, "PQ_DATABASE_URL": db_url, "PATH": "/usr/bin:/bin"},
            cwd=FIRST_TASK,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        worker.stop()
    assert session.returncode == 0, session.stdout + session.stderr
    assert "3 passed and 0 failed" in session.stdout
