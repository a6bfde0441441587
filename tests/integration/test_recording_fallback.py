"""A batch of ended attempts that the database refuses because of one record: the worker
writes the records one by one, so the innocent tasks keep their results and only the refused
one fails, with an error saying why."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import psycopg
import pytest

from pq import PQ, OutcomeKind, TaskStatus
from taskmods import hostile
from waiting import wait_until

# A value Postgres refuses with a DataError (SQLSTATE class 22), as it would a value over its
# limits, but only for one chosen row: the real statement, the real error, no mock.
REFUSE = """
CREATE FUNCTION pq_test_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.id = {bad} AND NEW.result IS NOT NULL THEN
        RAISE EXCEPTION 'value too long for this test' USING ERRCODE = '22001';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER pq_test_refuse BEFORE UPDATE ON pq_tasks
    FOR EACH ROW EXECUTE FUNCTION pq_test_refuse();
"""


def test_one_refused_record_fails_alone_and_the_rest_of_its_batch_is_recorded(
    app: PQ, db_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    release = tmp_path / "release"
    markers = [tmp_path / f"running-{n}" for n in range(3)]
    ids = [app.enqueue(hostile.hold_until_released, str(m), str(release)) for m in markers]
    bad = ids[1]
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(REFUSE.format(bad=int(bad)))

    def end_all_three_in_one_batch() -> None:
        # The worker cannot record while these row locks are held (its statement gives up
        # after lock_timeout and is retried), so the three endings pile up into one batch.
        wait_until(lambda: all(m.exists() for m in markers), timeout=60)
        with psycopg.connect(db_url) as conn:
            conn.execute("SELECT 1 FROM pq_tasks WHERE id = ANY(%s) FOR UPDATE", (ids,))
            release.touch()
            threading.Event().wait(2.5)  # longer than the worker's 1 s lock_timeout

    holder = threading.Thread(target=end_all_three_in_one_batch)
    holder.start()
    with caplog.at_level(logging.WARNING, logger="pq.worker"):
        assert app.run_worker(burst=True, concurrency=4) == 3
    holder.join()

    assert "refused a batch of 3 record(s)" in caplog.text
    for task_id in ids:
        task = app.get_task(task_id)
        assert task is not None
        if task_id == bad:
            assert task.status is TaskStatus.FAILED
            assert task.outcome is OutcomeKind.EXCEPTION
            assert "could not be stored: the database refused it" in (task.error or "")
            assert "value too long for this test" in (task.error or "")
        else:
            assert task.status is TaskStatus.COMPLETED, task.error
            assert task.result == "released"
