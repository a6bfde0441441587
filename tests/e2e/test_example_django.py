"""examples/django_site as a user drives it: its pytest-django suite, and `manage.py` on a
database with no tables at all (checks, migrate, an order placed, `manage.py pq worker`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SITE = Path(__file__).resolve().parents[2] / "examples" / "django_site"


def run(*args: str, db_url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        cwd=SITE,
        env={**os.environ, "PQ_DATABASE_URL": db_url},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def manage(*args: str, db_url: str) -> str:
    """stdout of a successful `manage.py ARGS` (its stderr is in the failure message)."""
    done = run("manage.py", *args, db_url=db_url)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def check(db_url: str) -> str:
    """What `manage.py check --database default` reports (Django prints it on stderr)."""
    done = run("manage.py", "check", "--database", "default", db_url=db_url)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def test_the_example_suite_passes_under_pytest_django(db_url: str) -> None:
    done = run("-m", "pytest", "-q", "-p", "no:cacheprovider", db_url=db_url)
    assert done.returncode == 0, done.stdout + done.stderr
    assert " passed" in done.stdout and "failed" not in done.stdout


def test_manage_py_from_an_empty_database_to_a_completed_task(empty_db_url: str) -> None:
    assert "pq.W001" in check(empty_db_url)
    manage("migrate", db_url=empty_db_url)  # Django's tables and pq's
    assert "pq.W001" not in check(empty_db_url)

    placed = manage(
        "shell",
        "-c",
        "from django.test import Client; "
        "print(Client().post('/orders', {'customer': 'ada@example.com'}).content.decode())",
        db_url=empty_db_url,
    )
    task_id = json.loads(placed.strip().splitlines()[-1])["task"]

    manage("pq", "worker", "--burst", db_url=empty_db_url)  # takes the setting's shop queue

    shown = json.loads(manage("pq", "task", str(task_id), "--json", db_url=empty_db_url))
    assert shown["status"] == "completed"
    assert shown["result"].startswith("receipt for order")

    missing = run("manage.py", "pq", "task", "987654", db_url=empty_db_url)
    assert missing.returncode == 1  # pq's status and one-line error, no Django traceback
    assert "pq: error: task 987654 does not exist" in missing.stderr
    assert "Traceback" not in missing.stderr
