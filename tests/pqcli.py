"""Running the real `pq` command in a subprocess, as the e2e tests do."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent
PQ_COMMAND = str(Path(sys.executable).parent / "pq")


def pq_env(db_url: str | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS), env.get("PYTHONPATH", "")])
    env.pop("PQ_DATABASE_URL", None)
    if db_url is not None:
        env["PQ_DATABASE_URL"] = db_url
    return env


def run_pq(
    *args: str, db_url: str | None = None, timeout: float = 60, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Runs `pq ARGS...`; `env` entries override (an empty value removes the variable)."""
    full_env = pq_env(db_url)
    for name, value in (env or {}).items():
        if value:
            full_env[name] = value
        else:
            full_env.pop(name, None)
    return subprocess.run(
        [PQ_COMMAND, *args],
        env=full_env,
        cwd=TESTS,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
