"""examples/fastapi_app.py runs to completion, as CI runs it: uvicorn and `pq worker` as
subprocesses, httpx driving the API."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_fastapi_example_exits_zero(db_url: str) -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "fastapi_app.py")],
        check=False,
        env={**os.environ, "PQ_DATABASE_URL": db_url},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "10 concurrent POST /squares/now -> [0, 0, 1, 5, 14, 30, 55, 91, 140, 204]" in (
        done.stdout
    )
    assert "the FastAPI example passed" in done.stdout
