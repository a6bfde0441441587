"""A burst worker waits for the retries of the tasks it ran, so a flaky task in CI runs to
its end instead of being left pending behind its backoff."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pq import PQ, TaskStatus
from taskmods import opsapp


@pytest.fixture
def ops(db_url: str) -> Iterator[PQ]:
    opsapp.app.close()
    opsapp.app._url = db_url
    yield opsapp.app
    opsapp.app.close()


def test_a_burst_waits_for_the_retry_of_a_task_it_ran(ops: PQ, tmp_path: Path) -> None:
    task_id = opsapp.fails_once_then_works.delay(str(tmp_path / "marker")).id

    assert ops.run_worker(burst=True) == 2  # the failed attempt and its retry 1.5 s later

    task = ops.get_task(task_id)
    assert task is not None and task.status is TaskStatus.COMPLETED and task.result == 7
    assert [a.outcome for a in task.history] == ["exception", "success"]


def test_a_burst_does_not_wait_for_tasks_it_did_not_run(ops: PQ) -> None:
    later = opsapp.ok.apply_async((1,), countdown=3600).id
    assert ops.run_worker(burst=True) == 0
    assert ops.get_task(later).status is TaskStatus.PENDING  # type: ignore[union-attr]
