"""examples/operations.py runs to completion, as CI runs it: a failed task found with
`pq tasks --status failed` and run again with `pq retry`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_operations_example_finds_and_retries_a_failed_task(db_url: str) -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "operations.py")],
        check=False,
        env={**os.environ, "PQ_DATABASE_URL": db_url},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "$ pq tasks operations:app --status failed" in done.stdout
    assert "completed on its second attempt" in done.stdout
