"""Client ids are unique; upsert replaces a waiting task and parks a new version on a running
one, which runs after the current run (never beside it), latest version only."""

from __future__ import annotations

import threading
from pathlib import Path

import psycopg
import pytest

from pq import PQ, DuplicateClientIdError, PQError, TaskStatus
from taskmods import api
from waiting import wait_until


def test_a_duplicate_client_id_raises_an_integrity_error_that_is_also_a_pq_error(
    app: PQ,
) -> None:
    first = app.enqueue(api.echo, 1, client_id="order-123")

    with pytest.raises(psycopg.IntegrityError) as caught:
        app.enqueue(api.echo, 2, client_id="order-123")

    assert isinstance(caught.value, DuplicateClientIdError)
    assert isinstance(caught.value, PQError)
    assert "upsert()" in str(caught.value)
    assert app.pending_count() == 1
    found = app.get_task_by_client_id("order-123")
    assert found is not None and found.id == first and found.args == [1]


def test_a_duplicate_client_id_through_apply_async_raises_too(app: PQ) -> None:
    task = app.task(api.echo)
    task.apply_async((1,), client_id="k")
    with pytest.raises(DuplicateClientIdError):
        task.apply_async((2,), client_id="k")


def test_get_task_by_an_unknown_client_id_is_none(app: PQ) -> None:
    assert app.get_task_by_client_id("nope") is None


def test_upsert_replaces_a_pending_task_and_only_the_latest_runs(app: PQ, tmp_path: Path) -> None:
    log = str(tmp_path / "runs.log")
    first = app.upsert(api.append, log, "v1", client_id="welcome")
    second = app.upsert(api.append, log, "v2", client_id="welcome", priority="high")

    assert first == second
    task = app.get_task(first)
    assert task is not None and task.args == [log, "v2"] and task.priority == 75
    assert app.pending_count() == 1
    assert app.run_worker(burst=True) == 1
    assert Path(log).read_text().splitlines() == ["v2"]


def test_upsert_resets_a_finished_task_to_pending(app: PQ, tmp_path: Path) -> None:
    log = str(tmp_path / "runs.log")
    task = app.task(api.append)
    handle = task.upsert(log, "v1", client_id="daily")
    app.run_worker(burst=True)
    assert handle.status() is TaskStatus.COMPLETED

    again = task.upsert(log, "v2", client_id="daily")

    assert again.id == handle.id
    row = again.snapshot()
    assert row.status is TaskStatus.PENDING
    assert row.attempts == 0 and row.result is None and row.finished_at is None
    app.run_worker(burst=True)
    assert Path(log).read_text().splitlines() == ["v1", "v2"]


def test_upsert_during_a_run_parks_the_new_version_which_runs_after_never_beside(
    db_url: str, tmp_path: Path
) -> None:
    app = PQ(db_url)
    log, gate = str(tmp_path / "runs.log"), str(tmp_path / "gate")
    task_id = app.upsert(api.gated, log, "v1", gate, client_id="debounce")
    producer = PQ(db_url)
    seen_while_running: list[object] = []

    def upsert_twice_while_v1_runs() -> None:
        wait_until(lambda: Path(log).exists(), timeout=30)  # v1 has started
        producer.upsert(api.gated, log, "v2", gate, client_id="debounce")
        producer.upsert(api.gated, log, "v3", gate, client_id="debounce")
        row = producer.get_task(task_id)
        assert row is not None
        seen_while_running.extend([row.status, row.args[1]])
        Path(gate).touch()  # let v1 finish

    thread = threading.Thread(target=upsert_twice_while_v1_runs, daemon=True)
    thread.start()
    # Two slots: the parked version could start beside v1 if anything let it.
    processed = app.run_worker(burst=True, concurrency=2)
    thread.join()
    producer.close()

    assert seen_while_running == [TaskStatus.RUNNING, "v1"]  # v1 kept running unchanged
    assert processed == 2
    assert Path(log).read_text().splitlines() == ["start v1", "end v1", "start v3", "end v3"]
    final = app.get_task(task_id)
    assert final is not None
    assert final.status is TaskStatus.COMPLETED and final.result == "v3"
    assert [a.outcome.value for a in final.history] == ["success", "success"]
    app.close()


def test_upsert_without_a_client_id_is_refused(app: PQ) -> None:
    from pq import ConfigurationError

    with pytest.raises(ConfigurationError, match="client_id"):
        app.upsert(api.echo, 1, client_id="")
