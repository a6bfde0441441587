"""`pq db ...` manages one embedded Postgres that several processes share."""

from __future__ import annotations

import os
import subprocess
import sys
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
        timeout=300,  # a first start waits up to embedded.STARTUP_TIMEOUT on a busy machine
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


SHOP = """
from pq import PQ

app = PQ()


@app.task
def add(a: int, b: int) -> int:
    return a + b
"""


def run_in(cwd: Path, *command: str) -> subprocess.CompletedProcess[str]:
    env = pq_env()
    env.pop("PQ_EMBEDDED_DIR", None)
    env["PYTHONPATH"] = f"{cwd / 'proj'}{os.pathsep}{env['PYTHONPATH']}"
    return subprocess.run(
        list(command), check=False, env=env, cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_the_database_is_found_above_the_current_directory_and_by_the_apps_location(
    tmp_path: Path,
) -> None:
    project = tmp_path / "proj"
    (project / "sub" / "deeper").mkdir(parents=True)
    (project / "shop.py").write_text(SHOP)
    enqueue = [sys.executable, "-c", "from shop import add; print(add.delay(1, 2).id)"]
    try:
        started = run_in(project, PQ_COMMAND, "db", "start")
        assert started.returncode == 0, started.stderr
        status = run_in(project / "sub" / "deeper", PQ_COMMAND, "db", "status")
        assert status.returncode == 0 and str(project / ".pq" / "pgdata") in status.stdout

        # From the parent directory, by the app's location; an unmigrated database gets the
        # same one-line advice as the worker.
        missing = run_in(tmp_path, *enqueue)
        assert missing.returncode == 1 and "pq migrate" in missing.stderr
        assert "UndefinedTable" not in missing.stderr
        migrated = run_in(project, PQ_COMMAND, "migrate", "shop:app")
        assert migrated.returncode == 0, migrated.stderr
        enqueued = run_in(tmp_path, *enqueue)
        assert enqueued.returncode == 0, enqueued.stderr
        assert enqueued.stdout.strip().isdigit()
        assert not (tmp_path / ".pq").exists()  # no second server was started

        # The operator commands do not repeat the embedded-database warning every time.
        listed = run_in(project, PQ_COMMAND, "tasks", "shop:app", "--json")
        assert listed.returncode == 0 and "embedded" not in listed.stderr
    finally:
        run_in(project, PQ_COMMAND, "db", "stop")


def test_a_server_that_never_comes_up_is_reported_with_its_log(tmp_path: Path) -> None:
    """What a user sees when the embedded server is still not ready after the startup wait
    (pg_ctl's own 10 s wait ran out on a busy machine and the server did not recover)."""
    import pytest

    from pq.errors import ConfigurationError
    from pq.store import embedded

    data_dir = tmp_path / "pgdata"
    data_dir.mkdir()
    with pytest.raises(ConfigurationError) as raised:
        embedded._wait_until_ready(data_dir, timeout=0.5)
    message = str(raised.value)
    assert "did not start" in message
    assert str(data_dir / "log") in message
    assert "pq db stop" in message
