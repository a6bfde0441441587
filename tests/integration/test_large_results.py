"""Large results travel from the child to the database as the child encoded them (the parent
keeps them as bytes and streams them in, pq/store/staging.py): stored exactly, through every
way a result is recorded, and the 64 MiB limit still fails the task with its message."""

from __future__ import annotations

import psycopg
import pytest

from pq import PQ, OutcomeKind, TaskStatus, chain
from taskmods import funcs, hostile


def test_a_60_mib_result_is_recorded_exactly(app: PQ, db_url: str) -> None:
    big = app.enqueue(hostile.return_big, 60)
    assert app.run_worker(burst=True) == 1
    with psycopg.connect(db_url) as conn:
        row = conn.execute(
            "SELECT status, length(result #>> '{}'), left(result #>> '{}', 3) FROM pq_tasks "
            "WHERE id = %s",
            (big,),
        ).fetchone()
    assert row == ("completed", 60 * 2**20, "xxx")


@pytest.mark.parametrize(
    "worker", [{"concurrency": 3}, {"tasks_per_child": 3}], ids=["forked", "reused"]
)
def test_a_large_result_beside_small_ones_is_stored_as_returned(
    app: PQ, db_url: str, worker: dict[str, int]
) -> None:
    big = app.enqueue(hostile.return_big_document, 3)
    small = [app.enqueue(funcs.add, n, 1) for n in range(4)]
    assert app.run_worker(burst=True, **worker) == 5  # type: ignore[arg-type]
    task = app.get_task(big)
    assert task is not None and task.status is TaskStatus.COMPLETED
    assert task.result == hostile.return_big_document(3)  # escapes and non-ASCII intact
    assert [app.get_task(t).result for t in small] == [1, 2, 3, 4]  # type: ignore[union-attr]


def test_a_large_result_is_passed_to_the_next_chain_step(app: PQ, db_url: str) -> None:
    handle = chain(
        app.task(hostile.return_big_document).s(2), app.task(hostile.size_of).s()
    ).delay()
    app.run_worker(burst=True)
    assert handle.result(timeout=30) == len(hostile.return_big_document(2)["text"])  # type: ignore[arg-type]


def test_the_64_mib_limit_still_fails_the_task_with_its_message(app: PQ) -> None:
    too_big = app.enqueue(hostile.return_big, 65)
    after = app.enqueue(funcs.add, 1, 2)
    assert app.run_worker(burst=True) == 2
    failed = app.get_task(too_big)
    assert failed is not None and failed.status is TaskStatus.FAILED
    assert failed.outcome is OutcomeKind.EXCEPTION
    assert "result too large: 65.0 MiB (pq stores at most 64 MiB)" in (failed.error or "")
    assert app.get_task(after).result == 3  # type: ignore[union-attr]
