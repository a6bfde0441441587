"""Async task functions and lifecycle hooks (sync and async) run in the forked child; a
failing hook is recorded on its task and never stops the worker."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pq import PQ, TaskStatus
from taskmods import api, funcs


@pytest.fixture
def hook_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "hooks.log"
    monkeypatch.setenv("PQ_TEST_HOOK_LOG", str(path))
    return path


def test_an_async_task_runs_and_its_result_is_stored(app: PQ) -> None:
    handle = app.task(api.async_add).delay(40, 2)
    app.enqueue(api.async_add, 1, 1)
    assert app.run_worker(burst=True) == 2
    assert handle.result(timeout=10) == 42


def test_hooks_run_in_the_child_around_each_task(app: PQ, hook_log: Path) -> None:
    ok = app.enqueue(funcs.add, 1, 2)
    bad = app.enqueue(funcs.fail, "nope")

    app.run_worker(burst=True, pre_execute=api.pre_hook, post_execute=api.post_hook)

    lines = hook_log.read_text().splitlines()
    assert lines[0].startswith(f"pre {ok} pid=")
    assert int(lines[0].split("pid=")[1]) != os.getpid()  # ran in the forked child
    assert lines[1] == f"post {ok} error=None"
    assert lines[2].startswith(f"pre {bad} ")
    assert lines[3] == f"post {bad} error=ValueError"
    assert app.get_task(ok).status is TaskStatus.COMPLETED  # type: ignore[union-attr]


def test_async_hooks_are_awaited(app: PQ, hook_log: Path) -> None:
    task_id = app.enqueue(api.async_add, 1, 2)
    app.run_worker(burst=True, pre_execute=api.async_pre_hook, post_execute=api.async_post_hook)
    assert hook_log.read_text().splitlines() == [f"async pre {task_id}", f"async post {task_id}"]
    assert app.get_task(task_id).result == 3  # type: ignore[union-attr]


def test_a_failing_pre_execute_is_recorded_and_the_task_does_not_run(
    app: PQ, tmp_path: Path
) -> None:
    log = str(tmp_path / "ran.log")
    first = app.enqueue(api.append, log, "one")
    second = app.enqueue(api.append, log, "two")

    assert app.run_worker(burst=True, pre_execute=api.failing_pre_hook) == 2  # worker went on

    assert not Path(log).exists()
    for task_id in (first, second):
        task = app.get_task(task_id)
        assert task is not None and task.status is TaskStatus.FAILED
        assert "pre_execute hook failed, the task did not run" in (task.error or "")
        assert "RuntimeError: pre hook exploded" in (task.error or "")


def test_a_failing_post_execute_is_recorded_on_the_task(app: PQ, tmp_path: Path) -> None:
    ok = app.enqueue(funcs.add, 1, 2)
    bad = app.enqueue(funcs.fail, "task error")

    assert app.run_worker(burst=True, post_execute=api.failing_post_hook) == 2

    after_success = app.get_task(ok)
    assert after_success is not None and after_success.status is TaskStatus.FAILED
    assert "post_execute hook failed" in (after_success.error or "")
    after_failure = app.get_task(bad)
    assert after_failure is not None
    assert "ValueError: task error" in (after_failure.error or "")  # the task's own error first
    assert "post hook exploded" in (after_failure.error or "")
