"""examples/transactional_sqlalchemy.py runs to completion, as CI runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_transactional_sqlalchemy_example_exits_zero(db_url: str) -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "transactional_sqlalchemy.py")],
        check=False,
        env={**os.environ, "PQ_DATABASE_URL": db_url},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "rolled-back order row exists: False; its task exists: False" in done.stdout
