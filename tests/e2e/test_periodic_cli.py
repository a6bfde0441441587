"""`pq periodic ...`: the real command in a subprocess, against a real worker."""

from __future__ import annotations

from pathlib import Path

from worker_procs import run_pq, running_workers

from pq import PQ, TaskStatus
from waiting import wait_until

APP = "taskmods.periodic_app:app"
DECLARE = {"PQ_TEST_DECLARE": "sync"}


def line_of(listing: str, key: str) -> list[str]:
    (line,) = [ln for ln in listing.splitlines() if "sync_data" in ln and f" {key} " in ln]
    return line.split()


def test_periodic_commands_pause_resume_run_now_and_list(db_url: str, tmp_path: Path) -> None:
    assert run_pq(db_url, "periodic", "list", APP, **DECLARE).stdout.strip() == "no schedules"

    paused = run_pq(db_url, "periodic", "pause", APP, "sync_data", "--key", "us", **DECLARE)
    assert paused.returncode == 0, paused.stderr
    assert "paused taskmods.periodic_jobs:sync_data (key 'us')" in paused.stdout
    ran = run_pq(db_url, "periodic", "run-now", APP, "sync_data", "--key", "eu", **DECLARE)
    assert ran.returncode == 0, ran.stderr
    task_id = int(ran.stdout.split()[-1])

    app = PQ(db_url)
    with running_workers(db_url, 1, tmp_path, **DECLARE):  # a restart: declarations rewritten
        wait_until(lambda: app.get_task(task_id).status is TaskStatus.COMPLETED)  # type: ignore[union-attr]

    listing = run_pq(db_url, "periodic", "list", APP, **DECLARE).stdout
    header = listing.splitlines()[0].split()
    assert header[:3] == ["NAME", "KEY", "SCHEDULE"] and header[-1] == "ACTIVE"
    us, eu = line_of(listing, "us"), line_of(listing, "eu")
    assert us[2:4] == ["every", "1h"] and us[-1] == "paused"  # the pause outlived the restart
    assert eu[2:4] == ["every", "2h"] and eu[-1] == "yes"

    resumed = run_pq(db_url, "periodic", "resume", APP, "sync_data", "-k", "us", **DECLARE)
    assert resumed.returncode == 0 and "resumed" in resumed.stdout
    assert line_of(run_pq(db_url, "periodic", "list", APP).stdout, "us")[-1] == "yes"
    app.close()


def test_an_unknown_schedule_is_one_clear_line_and_status_1(db_url: str) -> None:
    result = run_pq(db_url, "periodic", "pause", APP, "no_such_job")

    assert result.returncode == 1
    assert result.stderr.strip().startswith("pq: error: no schedule named 'no_such_job'")
    assert "Traceback" not in result.stderr
