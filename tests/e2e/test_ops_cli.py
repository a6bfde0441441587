"""The operator commands as an operator runs them: the real `pq` command against real
workers, `--json` parsed, tables checked against an 80-column terminal."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pq import PQ, TaskStatus
from pqcli import PQ_COMMAND, TESTS, pq_env, run_pq
from taskmods import opsapp
from waiting import wait_until

APP = "taskmods.opsapp:app"


@pytest.fixture
def ops(db_url: str) -> Iterator[PQ]:
    opsapp.app.close()
    opsapp.app._url = db_url
    yield opsapp.app
    opsapp.app.close()


def pq_json(db_url: str, *args: str) -> Any:
    result = run_pq(*args, "--json", db_url=db_url)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def pq_text(db_url: str, *args: str) -> str:
    result = run_pq(*args, db_url=db_url, env={"COLUMNS": "80"})
    assert result.returncode == 0, result.stderr
    widest = max(len(line) for line in result.stdout.splitlines())
    assert widest <= 80, result.stdout
    return result.stdout


def burst(db_url: str, *args: str) -> None:
    result = run_pq("worker", APP, "--burst", *args, db_url=db_url)
    assert result.returncode == 0, result.stderr


def test_tasks_and_task_show_a_failed_task_its_attempts_and_traceback(ops: PQ, db_url: str) -> None:
    good = opsapp.ok.delay(21).id
    bad = opsapp.boom.delay("bad input").id
    later = opsapp.send.apply_async(("x@y",), countdown=3600).id
    burst(db_url, "-Q", "default", "-Q", "emails")

    listed = pq_json(db_url, "tasks", APP)
    assert [t["id"] for t in listed] == [later, bad, good]
    failed = pq_json(db_url, "tasks", APP, "--status", "failed", "--since", "1h")
    assert [(t["id"], t["status"]) for t in failed] == [(bad, "failed")]
    assert pq_json(db_url, "tasks", APP, "-q", "emails", "--name", "send")[0]["id"] == later
    page = pq_json(db_url, "tasks", APP, "--limit", "1", "--before", str(later))
    assert [t["id"] for t in page] == [bad]

    table = pq_text(db_url, "tasks", APP)
    assert "taskmods.opsapp:boom" in table and "failed" in table

    detail = pq_json(db_url, "task", APP, str(bad))
    assert detail["args"] == ["bad input"] and detail["history"][0]["outcome"] == "exception"
    assert detail["history"][0]["max_rss_kib"] > 0
    text = pq_text(db_url, "task", APP, str(bad))
    assert "ValueError: bad input" in text and "Peak RSS" in text and "exception" in text
    assert pq_json(db_url, "task", APP, str(good))["result"] == 42

    missing = run_pq("task", APP, "999999", db_url=db_url)
    assert missing.returncode == 1 and "does not exist" in missing.stderr


def test_workers_shows_a_running_worker_with_its_task(ops: PQ, db_url: str, start_pq: Any) -> None:
    task_id = opsapp.nap.delay(60).id
    worker = start_pq("worker", APP, "--concurrency", "2", db_url=db_url)
    wait_until(lambda: ops.get_task(task_id).status is TaskStatus.RUNNING, timeout=30)  # type: ignore[union-attr]

    (alive,) = [w for w in pq_json(db_url, "workers", APP) if w["state"] == "alive"]
    assert alive["pid"] == worker.pid and alive["running"] == [task_id]
    assert alive["concurrency"] == 2 and alive["queues"] == ["default"]
    table = pq_text(db_url, "workers", APP)
    assert "alive" in table and str(worker.pid) in table and "1/2" in table

    cancelled = pq_json(db_url, "cancel", APP, str(task_id))
    assert cancelled == {"cancelled": [task_id], "not_cancelled": []}
    wait_until(lambda: ops.get_task(task_id).status is TaskStatus.CANCELLED, timeout=30)  # type: ignore[union-attr]
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(30) == 0
    (stopped,) = pq_json(db_url, "workers", APP)
    assert stopped["state"] == "stopped" and stopped["running"] == []


def test_cancel_workflow_cancels_every_unfinished_task_of_a_chain_or_group(
    ops: PQ, db_url: str
) -> None:
    from pq import chain, group

    first = chain(opsapp.nap.si(0), opsapp.nap.si(0)).delay()
    second = group(opsapp.nap.si(0), opsapp.nap.si(0)).delay()
    both = [str(first.id), str(second.id)]
    cancelled = pq_json(db_url, "cancel", APP, "--workflow", "--yes", *both)
    assert cancelled == {"cancelled": [first.id, second.id], "not_cancelled": []}
    assert {t.status for h in (first, second) for t in h.tasks()} == {TaskStatus.CANCELLED}
    again = pq_text(db_url, "cancel", APP, "--workflow", str(first.id))
    assert "not cancelled (already ended or unknown): " + str(first.id) in again


def test_stats_counts_per_queue_and_watch_refreshes_until_interrupted(ops: PQ, db_url: str) -> None:
    for i in range(3):
        opsapp.ok.delay(i)
    opsapp.boom.delay()
    burst(db_url)
    opsapp.send.delay("a@b")

    stats = {(s["queue"], s["priority"]): s for s in pq_json(db_url, "stats", APP)}
    assert stats[("default", 50)]["completed_5m"] == 3
    assert stats[("default", 50)]["failed_5m"] == 1
    assert stats[("default", 50)]["failure_rate"] == 0.25
    assert stats[("emails", 50)]["due"] == 1
    assert "emails" in pq_text(db_url, "stats", APP)

    watch = subprocess.Popen(
        [PQ_COMMAND, "stats", APP, "--watch", "--interval", "0.2"],
        env={**pq_env(db_url), "TTY_COMPATIBLE": "1", "COLUMNS": "80"},
        cwd=TESTS,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    seen = bytearray()
    try:
        os.set_blocking(watch.stdout.fileno(), False)  # type: ignore[union-attr]

        def refreshed_twice() -> bool:
            seen.extend(watch.stdout.read() or b"")  # type: ignore[union-attr]
            return seen.count(b"Done in") >= 2

        wait_until(refreshed_twice, timeout=30)
        watch.send_signal(signal.SIGINT)
        assert watch.wait(10) == 0
    finally:
        if watch.poll() is None:
            watch.kill()
            watch.wait()


def test_retry_from_the_command_line_runs_a_failed_task_again(
    ops: PQ, db_url: str, tmp_path: Path
) -> None:
    marker = tmp_path / "fixed"
    task_id = ops.enqueue(opsapp.fails_until_marker, str(marker))
    burst(db_url)
    (failed,) = pq_json(db_url, "tasks", APP, "--status", "failed")
    assert failed["id"] == task_id

    marker.write_text("")
    assert run_pq("retry", APP, str(task_id), db_url=db_url).stdout == "retried 1 task(s)\n"
    burst(db_url)
    done = pq_json(db_url, "task", APP, str(task_id))
    assert done["status"] == "completed" and done["result"] == "fixed"
    assert [a["outcome"] for a in done["history"]] == ["exception", "success"]

    nothing = run_pq("retry", APP, db_url=db_url)
    assert nothing.returncode == 2 and "--failed" in nothing.stderr


def test_retry_failed_asks_first_unless_yes(ops: PQ, db_url: str) -> None:
    ids = [opsapp.boom.delay(str(i)).id for i in range(3)]
    burst(db_url)

    refused = subprocess.run(
        [PQ_COMMAND, "retry", APP, "--failed"],
        env=pq_env(db_url),
        cwd=TESTS,
        input="n\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert refused.returncode == 1 and "(3 tasks)?" in refused.stderr
    assert len(pq_json(db_url, "tasks", APP, "--status", "failed")) == 3

    assert pq_json(db_url, "retry", APP, "--failed", "--name", "boom", "--yes") == {"retried": 3}
    assert {t["id"] for t in pq_json(db_url, "tasks", APP, "-s", "pending")} == set(ids)


def test_purge_deletes_a_queue_after_confirmation(ops: PQ, db_url: str) -> None:
    for i in range(4):
        opsapp.send.delay(f"{i}@x")
    keep = opsapp.ok.delay(1).id
    assert pq_json(db_url, "purge", APP, "--queue", "emails", "--yes") == {"deleted": 4}
    assert [t["id"] for t in pq_json(db_url, "tasks", APP)] == [keep]
    bad = run_pq("purge", APP, "-q", "default", "--status", "running", "--yes", db_url=db_url)
    assert bad.returncode == 1 and "cancel running tasks" in bad.stderr


def test_a_paused_queue_waits_across_worker_restarts_until_resumed(ops: PQ, db_url: str) -> None:
    email = opsapp.send.delay("a@b").id
    assert run_pq("queue", "pause", APP, "emails", db_url=db_url).stdout == (
        "paused queue 'emails'\n"
    )
    assert pq_json(db_url, "queue", "list", APP) == {"paused": ["emails"]}
    burst(db_url, "-q", "emails")
    burst(db_url, "-q", "emails")
    assert ops.get_task(email).status is TaskStatus.PENDING  # type: ignore[union-attr]

    assert pq_json(db_url, "queue", "resume", APP, "emails")["changed"] is True
    burst(db_url, "-q", "emails")
    assert ops.get_task(email).status is TaskStatus.COMPLETED  # type: ignore[union-attr]


def test_a_running_worker_stops_claiming_a_queue_paused_under_it(
    ops: PQ, db_url: str, start_pq: Any
) -> None:
    start_pq("worker", APP, "-q", "emails", "--poll-interval", "0.2", db_url=db_url)
    first = opsapp.send.delay("1@x").id
    wait_until(lambda: ops.get_task(first).status is TaskStatus.COMPLETED, timeout=30)  # type: ignore[union-attr]
    ops.pause_queue("emails")
    wait_until(lambda: "emails" in ops.paused_queues())
    # The notice reaches the worker in milliseconds. Wait until the worker has heartbeated
    # after the enqueue: by then it polled several times and would have claimed the task.
    second = ops.get_task(opsapp.send.delay("2@x").id)
    assert second is not None

    def heartbeat_after_enqueue() -> bool:
        (worker,) = [w for w in ops.list_workers() if w.state == "alive"]
        return worker.last_heartbeat_at > second.created_at

    wait_until(heartbeat_after_enqueue, timeout=30)
    assert ops.get_task(second.id).status is TaskStatus.PENDING  # type: ignore[union-attr]
    ops.resume_queue("emails")
    wait_until(lambda: ops.get_task(second.id).status is TaskStatus.COMPLETED, timeout=30)  # type: ignore[union-attr]


def test_help_shows_celery_like_flags_and_no_python_types() -> None:
    for command in (["worker"], ["retry"], ["tasks"], ["stats"], ["queue", "pause"], []):
        result = run_pq(*command, "--help", env={"COLUMNS": "100"})
        assert result.returncode == 0
        for python_type in ("<bool>", "<str>", "<list[str]>", "<int>", "<float>", "<integer>"):
            assert python_type not in result.stdout, (command, result.stdout)
    worker_help = run_pq("worker", "--help", env={"COLUMNS": "100"}).stdout
    assert "-q,-Q" in worker_help and "QUEUE" in worker_help and "SECONDS" in worker_help
    assert "retries" in worker_help  # --burst says it waits for retries


def test_shell_completion_is_available() -> None:
    result = run_pq("--show-completion", "bash", env={"SHELL": "/bin/bash"})
    assert result.returncode == 0 and "_pq_completion" in result.stdout
    completed = run_pq(
        env={"_PQ_COMPLETE": "complete_bash", "COMP_WORDS": "pq wor", "COMP_CWORD": "1"}
    )
    assert completed.stdout.split() == ["workers", "worker"]
