"""A value Postgres cannot store fails its own task (or its own enqueue), never the worker."""

from __future__ import annotations

from typing import Any

import pytest

from pq import PQ, SerializationError, TaskStatus
from taskmods import funcs, hostile


def _deep(levels: int) -> Any:
    value: Any = "bottom"
    for _ in range(levels):
        value = [value]
    return value


def test_results_and_errors_postgres_cannot_store_fail_only_their_task(app: PQ) -> None:
    bad = {
        "return_nul": app.enqueue(hostile.return_nul),
        "return_surrogate": app.enqueue(hostile.return_surrogate),
    }
    raising = [app.enqueue(hostile.raise_nul), app.enqueue(hostile.raise_surrogate)]
    good = app.enqueue(funcs.add, 1, 2)
    assert app.run_worker(burst=True, concurrency=2) == 5  # the worker survived all of them

    nul = app.get_task(bad["return_nul"])
    assert nul is not None and nul.status is TaskStatus.FAILED
    assert "the return value contains a NUL character" in (nul.error or "")
    surrogate = app.get_task(bad["return_surrogate"])
    assert surrogate is not None and surrogate.status is TaskStatus.FAILED
    assert "lone surrogate" in (surrogate.error or "")
    for task_id in raising:  # the traceback is stored, with the bad characters escaped
        task = app.get_task(task_id)
        assert task is not None and task.status is TaskStatus.FAILED
        assert "before\\x00after" in (task.error or "") or "caf\\udce9" in (task.error or "")
    assert app.get_task(good).result == 3  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        (["ok", "a\x00b"], {}, "argument 1 contains a NUL character"),
        ([], {"name": hostile.SURROGATE_NAME}, "argument 'name' contains a lone surrogate"),
        ([{"k": {"\x00": 1}}], {}, "argument 0 contains a NUL character"),
        ([_deep(3000)], {}, "argument 0 is nested more than 500 levels deep"),
    ],
)
def test_enqueue_refuses_what_postgres_cannot_store_naming_the_argument(
    app: PQ, args: list[Any], kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(SerializationError, match=message):
        app.enqueue(hostile.accept_anything, *args, **kwargs)
    assert app.pending_count() == 0  # nothing was written


def test_a_result_over_the_size_limit_fails_its_task_and_says_so(
    app: PQ, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pq.worker.child

    # The real limit is 64 MiB; the forked child inherits this smaller one.
    monkeypatch.setattr(pq.worker.child, "MAX_RESULT_BYTES", 2**20)
    big = app.enqueue(hostile.return_big, 1.5)
    small = app.enqueue(hostile.return_big, 0.5)
    assert app.run_worker(burst=True) == 2
    failed = app.get_task(big)
    assert failed is not None and failed.status is TaskStatus.FAILED
    assert "result too large: 1.5 MiB (pq stores at most 1 MiB)" in (failed.error or "")
    assert "return a reference" in (failed.error or "")
    assert app.get_task(small).status is TaskStatus.COMPLETED  # type: ignore[union-attr]
