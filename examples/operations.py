"""Operating pq from the terminal: a task fails, the operator finds it with
`pq tasks --status failed`, fixes the cause, and runs it again with `pq retry`.

    python examples/operations.py

Uses PQ_DATABASE_URL when it is set, else the embedded development database (as `PQ()`
does). Everything runs in its own schema, dropped at the end, so a shared database keeps
its own tasks. Each `pq` command is printed before its output, as an operator would type it.
Exits 0 when the retried task completed with both attempts in its history.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg

from pq import PQ

HERE = Path(__file__).resolve().parent
APP = "operations:app"  # this module, as the pq command imports it (run from HERE)
SCHEMA = "pq_example_operations"

app = PQ(schema=SCHEMA)


@app.task
def import_prices(feed: str) -> int:
    """Fails until the feed file exists: the operator's fix is to create it."""
    path = Path(feed)
    if not path.exists():
        raise FileNotFoundError(f"price feed {feed} is missing")
    return len(path.read_text().split())


def pq(*args: str, show: bool = True) -> str:
    """Runs `pq ARGS` as an operator would, shows it, and returns its standard output."""
    if show:
        print(f"\n$ pq {' '.join(args)}")
    env = {**os.environ, "PQ_DATABASE_URL": app.database_url, "PQ_SCHEMA": SCHEMA}
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")])
    done = subprocess.run(
        [sys.executable, "-m", "pq", *args],
        cwd=HERE,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    if show:
        print(done.stdout, end="")
    return done.stdout


def main() -> int:
    app.run_db_migrations()
    with tempfile.TemporaryDirectory() as tmp:
        feed = Path(tmp) / "prices.txt"
        task_id = import_prices.delay(str(feed)).id
        app.run_worker(burst=True)  # `pq worker operations:app --burst`, in this process

        pq("tasks", APP, "--status", "failed")
        (failed,) = json.loads(pq("tasks", APP, "--status", "failed", "--json", show=False))
        assert failed["id"] == task_id

        feed.write_text("EURUSD 1.08\nGBPUSD 1.27\n")  # the fix
        pq("retry", APP, str(task_id))
        app.run_worker(burst=True)
        pq("task", APP, str(task_id))

        done = app.get_task(task_id)
    app.close()
    ok = (
        done is not None
        and done.status == "completed"
        and [a.outcome for a in done.history] == ["exception", "success"]
    )
    print(f"\nretried task {task_id}: {'completed on its second attempt' if ok else 'NOT done'}")
    return 0 if ok else 1


def cleanup() -> None:
    with psycopg.connect(app.database_url, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")


if __name__ == "__main__":
    # Run as the importable module `operations`, so the task is named operations:import_prices
    # (a worker cannot import a script's __main__).
    sys.path.insert(0, str(HERE))
    import operations

    try:
        code = operations.main()
    finally:
        operations.cleanup()
    sys.exit(code)
