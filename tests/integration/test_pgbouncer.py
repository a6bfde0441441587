"""pq through a real PgBouncer in transaction mode (tests/bouncer.py): producers, transactional
enqueue on both drivers, migrations, workers (polling, or LISTENing on a direct URL),
results and periodic ticks. Every transaction may land on another server session there, so
nothing may rely on session state (prepared statements, LISTEN)."""

from __future__ import annotations

import asyncio
import threading
from datetime import timedelta
from pathlib import Path

import psycopg
import psycopg2
import pytest
from sessions import listen_sessions
from worker_procs import running_workers

from pq import PQ
from taskmods import funcs, hostile
from waiting import wait_until


def count_rows(db_url: str, where: str = "true") -> int:
    with psycopg.connect(db_url) as conn:
        row = conn.execute(f"SELECT count(*) FROM pq_tasks WHERE {where}").fetchone()
        assert row is not None
        return int(row[0])


def test_concurrent_producers_delay_and_map_through_the_bouncer(
    pooled_url: str, db_url: str
) -> None:
    # Several pool connections each running the insert far past psycopg's prepare threshold
    # (5): with prepared statements on, names clash across the bouncer's server sessions.
    app = PQ(pooled_url, pool_min_size=4, pool_max_size=4)
    add = app.task(funcs.add)
    errors: list[BaseException] = []

    def produce(n: int) -> None:
        try:
            for i in range(40):
                add.delay(n, i)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=produce, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    handles = add.map([(i, i) for i in range(100)])
    app.close()

    assert errors == []
    assert len(handles) == 100
    assert count_rows(db_url) == 4 * 40 + 100


@pytest.mark.parametrize("driver", ["psycopg", "psycopg2"])
def test_transactional_enqueue_through_the_bouncer(
    pooled_url: str, db_url: str, driver: str
) -> None:
    app = PQ(pooled_url)
    errors: list[BaseException] = []

    def produce() -> None:
        # Callers' own connections, each past psycopg's prepare threshold, at the same time:
        # a statement prepared on one server session must not be assumed on the next.
        connect = psycopg.connect if driver == "psycopg" else psycopg2.connect
        conn = connect(pooled_url)
        try:
            for n in range(12):
                app.enqueue(funcs.add, n, n, connection=conn)
                (conn.commit if n % 2 else conn.rollback)()
        except BaseException as exc:
            errors.append(exc)
        finally:
            conn.close()

    threads = [threading.Thread(target=produce) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    app.close()
    assert errors == []
    assert count_rows(db_url) == 3 * 6


def test_migrations_run_through_the_bouncer(pgbouncer: object, empty_db_url: str) -> None:
    # The migration lock is transaction-scoped, so it holds through a transaction pooler.
    app = PQ(pgbouncer.url_for(empty_db_url))  # type: ignore[attr-defined]
    assert app.run_db_migrations()
    assert app.run_db_migrations() == []
    assert app.enqueue(funcs.noop) > 0
    app.close()


def test_result_through_the_bouncer_wakes_without_listen(pooled_url: str) -> None:
    # LISTEN through a transaction pooler hears nothing; the wait polls instead of sleeping
    # through its 5 s safety interval (this timeout is below it).
    app = PQ(pooled_url)
    handle = app.task(funcs.sleep_for).delay(0.3)
    results: list[object] = []
    waiter = threading.Thread(target=lambda: results.append(handle.result(timeout=4)))
    waiter.start()
    worker = PQ(pooled_url)
    worker.run_worker(burst=True)  # in the main thread: the worker installs signal handlers
    waiter.join()
    app.close()
    worker.close()
    assert results == [0.3]


def test_awaited_result_through_the_bouncer_wakes_without_listen(pooled_url: str) -> None:
    # The async wait too: no LISTEN through the pooler, a poll well within its 4 s timeout
    # rather than the 5 s safety interval.
    app = PQ(pooled_url)
    handle = app.task(funcs.sleep_for).delay(0.3)
    results: list[object] = []
    waiter = threading.Thread(
        target=lambda: results.append(asyncio.run(handle.aresult(timeout=4))), daemon=True
    )
    waiter.start()
    worker = PQ(pooled_url)
    worker.run_worker(burst=True)
    waiter.join(30)
    app.close()
    worker.close()
    assert results == [0.3]


def test_awaited_results_listen_on_the_direct_url(pooled_url: str, db_url: str) -> None:
    app = PQ(pooled_url, listen_url=db_url)
    add = app.task(funcs.add)
    handles = [add.delay(n, 1) for n in range(4)]
    results: list[object] = []

    async def waits() -> None:
        results.extend(await asyncio.gather(*(h.aresult(timeout=60) for h in handles)))

    waiter = threading.Thread(target=lambda: asyncio.run(waits()), daemon=True)
    waiter.start()
    # one LISTEN session, on the server directly, for the four waits
    wait_until(lambda: listen_sessions(db_url) == 1, timeout=30)
    worker = PQ(pooled_url)
    worker.run_worker(burst=True)
    waiter.join(60)
    app.close()
    worker.close()
    assert results == [1, 2, 3, 4]


def test_workers_behind_the_bouncer_poll_and_say_so(
    pooled_url: str, db_url: str, tmp_path: Path
) -> None:
    app = PQ(pooled_url)
    add = app.task(funcs.add)
    handles = [add.delay(n, 1) for n in range(30)]
    with running_workers(
        pooled_url, 2, tmp_path, app="taskmods.e2eapp:app", args=["--poll-interval", "0.2"]
    ):
        assert [h.result(timeout=60) for h in handles] == [n + 1 for n in range(30)]
    logs = [p.read_text() for p in sorted(tmp_path.glob("worker*.log"))]
    app.close()
    for log in logs:
        assert "Traceback" not in log
        assert log.count("polling every") == 1, log
    assert count_rows(db_url, "status = 'completed'") == 30


def test_a_worker_with_a_direct_listen_url_listens(
    pooled_url: str, db_url: str, tmp_path: Path
) -> None:
    app = PQ(pooled_url, listen_url=db_url)
    add = app.task(funcs.add)
    # A long poll interval: only a notification can make the pick-up prompt.
    with running_workers(
        pooled_url,
        1,
        tmp_path,
        app="taskmods.e2eapp:app",
        args=["--poll-interval", "60"],
        PQ_LISTEN_URL=db_url,
    ):
        wait_until(lambda: "started" in (tmp_path / "worker0.log").read_text(), timeout=60)
        handle = add.delay(2, 3)
        assert handle.result(timeout=30) == 5
    log = (tmp_path / "worker0.log").read_text()
    app.close()
    assert "polling every" not in log
    assert "Traceback" not in log


def test_periodic_ticks_through_the_bouncer(pooled_url: str, db_url: str, tmp_path: Path) -> None:
    app = PQ(pooled_url)
    schedule = app.schedule(funcs.noop, run_every=timedelta(seconds=1), max_concurrent=None)
    with running_workers(pooled_url, 2, tmp_path, args=["--poll-interval", "0.2"]):
        wait_until(
            lambda: (
                count_rows(db_url, f"periodic_id = {schedule.id} AND status = 'completed'") >= 3
            ),
            timeout=60,
            interval=0.2,
        )
    app.close()
    for log in tmp_path.glob("worker*.log"):
        assert "Traceback" not in log.read_text()


def test_a_large_result_is_recorded_through_the_bouncer(pooled_url: str) -> None:
    # A result of 1 MiB or more is streamed into a temporary table (pq/store/staging.py):
    # made, filled and read inside one transaction, so it holds behind a transaction pooler.
    app = PQ(pooled_url)
    big = app.task(hostile.return_big_document).delay(2)
    small = app.task(funcs.add).delay(1, 2)
    try:
        assert app.run_worker(burst=True, concurrency=2) == 2
        assert big.result(timeout=10) == hostile.return_big_document(2)
        assert small.result(timeout=10) == 3
    finally:
        app.close()
