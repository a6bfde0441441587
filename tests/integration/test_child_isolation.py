"""Every kind of child death fails only its own task; the worker goes on to the next."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from pq import PQ, OutcomeKind, TaskStatus
from taskmods import funcs
from waiting import wait_until


@pytest.mark.parametrize(
    ("poison", "kwargs", "kind", "error_words"),
    [
        (funcs.segfault, {}, OutcomeKind.CRASH, "SIGSEGV"),
        (funcs.exit_without_result, {"code": 3}, OutcomeKind.CRASH, "code 3"),
        (funcs.kill_self, {}, OutcomeKind.MEMORY, "SIGKILL"),
        (funcs.raise_memory_error, {}, OutcomeKind.MEMORY, "MemoryError"),
        (funcs.fail, {"message": "bad input"}, OutcomeKind.EXCEPTION, "ValueError: bad input"),
    ],
)
def test_a_poisoned_task_fails_alone_and_later_tasks_run(
    app: PQ, poison: object, kwargs: dict[str, object], kind: OutcomeKind, error_words: str
) -> None:
    bad = app.enqueue(poison, **kwargs)  # type: ignore[arg-type]
    good = app.enqueue(funcs.add, 2, 3)

    processed = app.run_worker(burst=True)

    assert processed == 2
    failed = app.get_task(bad)
    assert failed is not None
    assert failed.status is TaskStatus.FAILED
    assert failed.outcome is kind
    assert error_words in (failed.error or "")
    done = app.get_task(good)
    assert done is not None and done.status is TaskStatus.COMPLETED and done.result == 5


def test_an_infinite_loop_is_killed_at_max_runtime(app: PQ) -> None:
    task_id = app.enqueue(funcs.spin_forever)
    after = app.enqueue(funcs.add, 1, 1)

    started = time.monotonic()
    app.run_worker(burst=True, max_runtime=0.5)
    elapsed = time.monotonic() - started

    task = app.get_task(task_id)
    assert task is not None and task.outcome is OutcomeKind.TIMEOUT
    assert "max_runtime (0.5s)" in (task.error or "")
    assert elapsed < 30  # generous: only proves the loop did not run forever
    assert app.get_task(after).status is TaskStatus.COMPLETED  # type: ignore[union-attr]


def test_a_timeout_kills_the_subprocesses_of_the_task_too(app: PQ, tmp_path: Path) -> None:
    pid_file = tmp_path / "grandchild.pid"
    app.enqueue(funcs.spawn_grandchild_and_hang, str(pid_file))

    app.run_worker(burst=True, max_runtime=1.0)

    grandchild = int(pid_file.read_text())

    def gone() -> bool:
        try:
            os.kill(grandchild, 0)
        except ProcessLookupError:
            return True
        # a killed grandchild is reparented to init, which reaps it; until then it is a zombie
        return Path(f"/proc/{grandchild}/stat").read_text().split()[2] == "Z"

    wait_until(gone, timeout=10)


def test_attempt_records_resource_use(app: PQ) -> None:
    task_id = app.enqueue(funcs.sleep_for, 0.2)
    app.run_worker(burst=True)
    task = app.get_task(task_id)
    assert task is not None
    (attempt,) = task.history
    assert attempt.outcome is OutcomeKind.SUCCESS
    assert attempt.duration is not None and attempt.duration >= 0.2
    assert attempt.max_rss_kib is not None and attempt.max_rss_kib > 1000
    assert attempt.cpu_seconds is not None


def test_run_worker_once_processes_one_task_and_reports_it(app: PQ) -> None:
    assert app.run_worker_once() is False
    first = app.enqueue(funcs.add, 1, 2)
    second = app.enqueue(funcs.add, 3, 4)
    assert app.run_worker_once() is True
    assert app.get_task(first).status is TaskStatus.COMPLETED  # type: ignore[union-attr]
    assert app.get_task(second).status is TaskStatus.PENDING  # type: ignore[union-attr]


def test_concurrency_runs_children_side_by_side(app: PQ, tmp_path: Path) -> None:
    log = tmp_path / "runs.log"
    for name in ("a", "b", "c"):
        app.enqueue(funcs.sleep_then_append, str(log), name, 0.5)

    app.run_worker(burst=True, concurrency=3)

    lines = log.read_text().splitlines()
    # all three started before any of them ended
    assert [line.split()[0] for line in lines[:3]] == ["start"] * 3


def test_a_task_that_enqueues_from_its_child_uses_its_own_connection(app: PQ) -> None:
    from taskmods import chain

    chain.app = app
    first = app.enqueue(chain.enqueue_follow_up, 5)
    app.run_worker(burst=True)
    assert app.get_task(first).status is TaskStatus.COMPLETED  # type: ignore[union-attr]
    completed = app.list_completed()
    assert sorted(t.name for t in completed) == [
        "taskmods.chain:enqueue_follow_up",
        "taskmods.funcs:add",
    ]
    assert {t.name: t.result for t in completed}["taskmods.funcs:add"] == 6
