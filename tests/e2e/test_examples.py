"""The examples run to completion as CI runs them, each against the test database, and print
what their guide promises. (examples/django_site has its own file: it runs a pytest-django
suite and drives manage.py.)"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

# script -> lines its output must hold
PROMISES = {
    # a row written and its task enqueued in one SQLAlchemy transaction; a rollback leaves neither
    "transactional_sqlalchemy.py": [
        "rolled-back order row exists: False; its task exists: False",
    ],
    # an order and its task in one AsyncSession transaction (asyncpg) behind a FastAPI endpoint,
    # and over a raw asyncpg connection; a declined order leaves neither behind
    "transactional_async.py": [
        "POST /orders (declined) -> 402",
        "orders in the table: ['ada@example.com', 'eve@example.com']",
        "rolled-back receipt tasks left: 0",
    ],
    # canvases run by a burst worker, one started from async code in the caller's transaction,
    # one cancelled before it ran
    "workflows.py": [
        "async  -> started in the caller's transaction, result 110",
        "cancel -> WorkflowCancelledError - chain ",
    ],
    # requests through Flask's test client, tasks by `flask pq worker --burst`
    "flask_app.py": ["(n=12) -> 200 {'status': 'completed', 'value': 506}"],
    # uvicorn and `pq worker` as subprocesses, httpx driving the API, results awaited
    "fastapi_app.py": [
        "10 concurrent POST /squares/now -> [0, 0, 1, 5, 14, 30, 55, 91, 140, 204]",
        "the FastAPI example passed",
    ],
    # a failed task found with `pq tasks --status failed` and run again with `pq retry`
    "operations.py": [
        "$ pq tasks operations:app --status failed",
        "completed on its second attempt",
    ],
    # pending tasks (JSON and dill arguments) and schedules of a python-pq 0.9 schema arrive in
    # pq and run; finished 0.9 rows stay behind
    "copy_from_python_pq09.py": [
        "copied 2 pending task(s) and 1 schedule(s)",
        "results [5, [1, 2, 3]]; sum-1 priority 75",
    ],
}


@pytest.mark.parametrize("script", sorted(PROMISES))
def test_the_example_runs_and_prints_what_its_guide_says(script: str, db_url: str) -> None:
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / script)],
        check=False,
        env={**os.environ, "PQ_DATABASE_URL": db_url},
        capture_output=True,
        text=True,
        timeout=300,  # several `pq` subprocesses start; a loaded machine makes that slow
    )
    assert done.returncode == 0, done.stdout + done.stderr
    for line in PROMISES[script]:
        assert line in done.stdout, done.stdout
