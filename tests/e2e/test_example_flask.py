"""examples/flask_app.py runs to completion, as CI runs it (Flask's test client for the
requests, `flask pq worker --burst` as a subprocess for the tasks)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_flask_example_exits_zero(db_url: str) -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "flask_app.py")],
        check=False,
        env={**os.environ, "PQ_DATABASE_URL": db_url},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "(n=12) -> 200 {'status': 'completed', 'value': 506}" in done.stdout
