"""The `pq` command as a user runs it: real subprocesses, stopped by signals."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Callable

import psycopg

from pq import PQ, TaskStatus, __version__
from pqcli import run_pq
from taskmods import funcs
from waiting import wait_until

Starter = Callable[..., subprocess.Popen[str]]


def test_version() -> None:
    result = run_pq("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"pq {__version__}"


def test_worker_help_lists_every_option() -> None:
    result = run_pq("worker", "--help")
    assert result.returncode == 0
    for option in (
        "--priority",
        "--queue",
        "--concurrency",
        "--max-runtime",
        "--poll-interval",
        "--burst",
        "--prefetch",
        "--spares",
        "--tasks-per-child",
    ):
        assert option in result.stdout


def test_a_bad_app_path_is_one_clear_line(db_url: str) -> None:
    result = run_pq("worker", "no_such_module:app", db_url=db_url)
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0
    assert "no module named 'no_such_module'" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_attribute_that_is_not_an_app_is_refused(db_url: str) -> None:
    result = run_pq("worker", "taskmods.e2e_app:multiply", db_url=db_url)
    assert result.returncode == 1
    assert "not a PQ instance" in result.stderr


def test_an_unreachable_database_is_one_clear_line() -> None:
    result = run_pq("worker", "taskmods.e2e_app:app", db_url="postgresql://nobody@127.0.0.1:1/none")
    assert result.returncode == 1
    assert "cannot connect to the database" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_unmigrated_database_names_the_upgrade_command(empty_db_url: str) -> None:
    result = run_pq("worker", "taskmods.e2e_app:app", db_url=empty_db_url)
    assert result.returncode == 1
    assert "run `pq migrate taskmods.e2e_app:app`" in result.stderr
    assert "Traceback" not in result.stderr

    migrated = run_pq("migrate", "taskmods.e2e_app:app", db_url=empty_db_url)
    assert migrated.returncode == 0, migrated.stderr
    assert "applied 0001_initial" in migrated.stdout
    again = run_pq("migrate", "taskmods.e2e_app", db_url=empty_db_url)
    assert again.stdout.strip() == "schema is up to date"


def test_worker_runs_tasks_until_sigterm_then_deregisters(db_url: str, start_pq: Starter) -> None:
    from taskmods import e2e_app

    producer = PQ(db_url)
    worker = start_pq("worker", "taskmods.e2e_app:app", "--concurrency", "2", db_url=db_url)

    good = producer.enqueue(e2e_app.multiply, 6, 7)
    bad = producer.enqueue(e2e_app.crash)
    plain = producer.enqueue(funcs.add, 1, 1)

    def all_finished() -> bool:
        return all(
            producer.get_task(i).status in (TaskStatus.COMPLETED, TaskStatus.FAILED)  # type: ignore[union-attr]
            for i in (good, bad, plain)
        )

    wait_until(all_finished, timeout=30)
    worker.send_signal(signal.SIGTERM)
    output, _ = worker.communicate(timeout=30)

    assert worker.returncode == 0, output
    assert producer.get_task(good).result == 42  # type: ignore[union-attr]
    assert producer.get_task(plain).result == 2  # type: ignore[union-attr]
    crashed = producer.get_task(bad)
    assert crashed is not None and crashed.status is TaskStatus.FAILED
    assert "SIGSEGV" in (crashed.error or "")
    with psycopg.connect(db_url) as conn:
        stopped = conn.execute("SELECT stopped_at IS NOT NULL FROM pq_workers").fetchall()
    assert stopped == [(True,)]
    producer.close()


def test_priority_flag_takes_only_those_priorities(db_url: str) -> None:
    from taskmods import e2e_app

    producer = PQ(db_url)
    high = producer.enqueue(e2e_app.multiply, 2, 3)  # HIGH, from its decorator
    low = producer.enqueue(funcs.add, 1, 1, priority="low")

    result = run_pq(
        "worker", "taskmods.e2e_app:app", "--priority", "high", "--burst", db_url=db_url
    )

    assert result.returncode == 0, result.stderr
    assert producer.get_task(high).status is TaskStatus.COMPLETED  # type: ignore[union-attr]
    assert producer.get_task(low).status is TaskStatus.PENDING  # type: ignore[union-attr]
    producer.close()


def test_burst_exits_when_nothing_is_left(db_url: str) -> None:
    producer = PQ(db_url)
    ids = [producer.enqueue(funcs.add, i, i) for i in range(5)]
    result = run_pq("worker", "taskmods.e2e_app", "--burst", "-c", "2", db_url=db_url)
    assert result.returncode == 0, result.stderr
    assert [producer.get_task(i).result for i in ids] == [0, 2, 4, 6, 8]  # type: ignore[union-attr]
    producer.close()


def test_an_error_inside_the_app_module_is_one_line_naming_it(db_url: str) -> None:
    result = run_pq("tasks", "taskmods.broken_app:app", db_url=db_url)
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert "importing 'taskmods.broken_app' failed: KeyError:" in result.stderr
    assert "PQ_TEST_SMTP_HOST_THAT_IS_NOT_SET" in result.stderr
    assert "broken_app.py:10)" in result.stderr
