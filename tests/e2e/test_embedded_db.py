"""`pq db ...` manages one embedded Postgres that several processes share."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import psycopg

from pqcli import PQ_COMMAND, TESTS, pq_env


def run_db(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = pq_env()
    env["PQ_EMBEDDED_DIR"] = str(root)
    return subprocess.run(
        [PQ_COMMAND, "db", *args],
        check=False,
        env=env,
        cwd=TESTS,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_start_status_url_stop(tmp_path: Path) -> None:
    root = tmp_path / "pqdev"
    try:
        assert run_db(root, "status").returncode == 3  # not running yet

        started = run_db(root, "start")
        assert started.returncode == 0, started.stderr
        status = run_db(root, "status")
        assert status.returncode == 0
        assert "running" in status.stdout and str(root) in status.stdout

        # two processes asking for the URL get the same server, which answers
        first, second = run_db(root, "url").stdout.strip(), run_db(root, "url").stdout.strip()
        assert first == second
        with psycopg.connect(first) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    finally:
        stopped = run_db(root, "stop")
    assert stopped.stdout.strip() == "stopped"
    assert run_db(root, "status").returncode == 3
    assert os.path.isdir(root / "pgdata")  # the data stays for the next start
