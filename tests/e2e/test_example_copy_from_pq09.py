"""examples/copy_from_python_pq09.py: pending tasks (JSON and dill arguments) and schedules of
a python-pq 0.9 schema arrive in pq and run; finished 0.9 rows stay behind."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_copy_script_moves_pending_tasks_and_schedules(db_url: str) -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "copy_from_python_pq09.py")],
        check=False,
        env={**os.environ, "PQ_DATABASE_URL": db_url},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "copied 2 pending task(s) and 1 schedule(s)" in done.stdout
    assert "results [5, [1, 2, 3]]; sum-1 priority 75" in done.stdout
