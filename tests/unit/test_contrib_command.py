"""`manage.py pq ...` / `flask pq ...` build the pq command line from the user's arguments,
and run it without click being importable (Typer vendors its own)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pq.contrib.command import with_app

APP = "site:app"


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["migrate"], ["migrate", APP]),
        (["task", "7", "--json"], ["task", APP, "7", "--json"]),
        (["periodic", "list"], ["periodic", "list", APP]),
        (["queue", "pause", "emails"], ["queue", "pause", APP, "emails"]),
        (["db", "status"], ["db", "status"]),
        (["--help"], ["--help"]),
        ([], []),
        (["worker", "-c", "2"], ["worker", APP, "-c", "2", "--queue", "shop", "--queue", "mail"]),
        (["worker", "-q", "x"], ["worker", APP, "-q", "x"]),
        (["worker", "--queue=x"], ["worker", APP, "--queue=x"]),
    ],
)
def test_the_app_goes_after_the_command_path(argv: list[str], expected: list[str]) -> None:
    assert with_app(argv, APP, ["shop", "mail"]) == expected


def test_it_runs_the_pq_command_without_click() -> None:
    code = (
        "import sys; sys.modules['click'] = None\n"  # import click now raises ImportError
        "from pq.contrib.command import run_pq\n"
        "sys.exit(run_pq(['task', 'nowhere:app', '1'], 'manage.py pq'))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 1, done.stderr  # pq's own error status, not a crash
    assert "pq: error: APP 'nowhere:app': no module named 'nowhere'" in done.stderr
    assert "Traceback" not in done.stderr
