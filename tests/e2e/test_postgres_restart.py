"""Postgres stopped and started under a running worker (a throwaway server, never a shared one)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from throwaway_pg import ThrowawayPostgres
from workerproc import workers

from pq import PQ, TaskStatus
from taskmods import e2eapp, funcs
from waiting import wait_until


@pytest.fixture(scope="module")
def server() -> Iterator[ThrowawayPostgres]:
    pg = ThrowawayPostgres()
    yield pg
    pg.cleanup()


@pytest.fixture
def pg_app(server: ThrowawayPostgres) -> Iterator[PQ]:
    app = PQ(server.url)
    app.run_db_migrations()
    yield app
    app.close()


def test_a_worker_survives_a_postgres_restart_and_records_what_finished_meanwhile(
    server: ThrowawayPostgres, pg_app: PQ, tmp_path: Path
) -> None:
    running = pg_app.enqueue(e2eapp.slow_no_retry, 1.0)
    with workers(server.url, tmp_path) as (worker,):
        wait_until(worker.children, timeout=20)
        pg_app.close()
        server.stop()
        try:
            wait_until(lambda: "connection lost" in worker.text(), timeout=20)
            # the task ends while the database is down: its outcome waits in the worker
            wait_until(lambda: "attempt 1: success" in worker.text(), timeout=20)
            wait_until(lambda: "still unreachable" in worker.text(), timeout=20)
        finally:
            server.start()
        wait_until(lambda: "re-established" in worker.text(), timeout=30)
        wait_until(lambda: "listener reconnected" in worker.text(), timeout=30)
        task = wait_until(
            lambda: (t := pg_app.get_task(running)) and t.status is TaskStatus.COMPLETED and t,
            timeout=30,
        )
        assert len(task.history) == 1  # recorded once
        later = pg_app.enqueue(funcs.add, 20, 22)
        done = wait_until(
            lambda: (t := pg_app.get_task(later)) and t.status is TaskStatus.COMPLETED and t,
            timeout=30,
        )
        assert done.result == 42
        assert worker.proc.poll() is None
