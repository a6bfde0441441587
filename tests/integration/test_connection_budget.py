"""The connection budget of docs/scaling.md, counted in pg_stat_activity: a worker holds 2
connections, each running task that enqueues adds at most 1 (never a pool), and all the
result() waits of one process share one LISTEN connection."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import psycopg
import pytest
from sessions import listen_sessions, sessions
from worker_procs import running_workers

from pq import PQ
from taskmods import budget, funcs
from waiting import wait_until


def test_running_tasks_that_enqueue_use_one_connection_each(db_url: str, tmp_path: Path) -> None:
    producer = PQ(db_url)
    release = tmp_path / "release"
    ids = [producer.enqueue(budget.enqueue_then_hold, str(release)) for _ in range(4)]
    producer.close()
    with running_workers(
        db_url, 1, tmp_path, app="taskmods.budget:app", args=["-c", "4", "-q", "budget"]
    ):
        wait_until(lambda: len(list(tmp_path.glob("release.*"))) == 4, timeout=60)
        # every child has enqueued twice and still runs: 2 worker connections + 4 children
        assert sessions(db_url) <= 2 + 4
        release.touch()
        ends = [producer.wait_for_end(i, None) for i in ids]
        producer.close()
        # the children are gone, and their connections with them: the worker's two remain
        wait_until(lambda: sessions(db_url) <= 2, timeout=30)
    assert len({t.result for t in ends if t is not None}) == 4
    assert producer.pending_count() == 8  # the parked tasks, two per child
    producer.close()


def test_result_waits_of_one_process_share_one_listen_connection(db_url: str) -> None:
    app = PQ(db_url, pool_min_size=1, pool_max_size=2)
    # The pool stays open from here on: opening one makes a short-lived check connection,
    # whose backend may still show in pg_stat_activity for a moment on a busy machine.
    handles = [app.task(funcs.add).delay(n, n) for n in range(8)]
    started = threading.Semaphore(0)
    results: list[object] = []

    def wait(handle: object) -> None:
        started.release()
        results.append(handle.result(timeout=60))  # type: ignore[attr-defined]

    threads = [threading.Thread(target=wait, args=(h,)) for h in handles]
    for thread in threads:
        thread.start()
    for _ in threads:
        started.acquire()
    wait_until(lambda: sessions(db_url) >= 2)  # the pool and the listener are open
    peak = max(sessions(db_url) for _ in range(20))

    worker = PQ(db_url)
    worker.run_worker(burst=True)
    for thread in threads:
        thread.join()
    worker.close()
    app.close()
    assert sorted(results) == [2 * n for n in range(8)]  # type: ignore[type-var]
    assert peak <= 2 + 1  # the pool's two connections and one LISTEN connection


def test_awaiting_results_share_the_listen_connection_of_blocking_waits(db_url: str) -> None:
    app = PQ(db_url, pool_min_size=1, pool_max_size=2)
    add = app.task(funcs.add)
    handles = [add.delay(n, n) for n in range(8)]
    blocking = add.delay(100, 1)  # the pool stays open (see above)
    counts: list[tuple[int, int]] = []
    results: dict[str, object] = {}

    async def waits() -> None:
        waiters = [asyncio.create_task(h.aresult(timeout=60)) for h in handles]
        while len(counts) < 20:  # every wait is registered and listening meanwhile
            await asyncio.sleep(0.02)
        results["awaited"] = await asyncio.gather(*waiters)

    def one_loop() -> None:
        asyncio.run(waits())

    loops = [threading.Thread(target=one_loop, daemon=True) for _ in range(2)]
    waiter = threading.Thread(
        target=lambda: results.update(blocking=blocking.result(60)), daemon=True
    )
    for thread in [*loops, waiter]:
        thread.start()
    wait_until(lambda: listen_sessions(db_url) >= 1)
    counts.extend((sessions(db_url), listen_sessions(db_url)) for _ in range(20))

    worker = PQ(db_url)
    worker.run_worker(burst=True)
    for thread in [*loops, waiter]:
        thread.join(60)
    worker.close()
    app.close()
    # two event loops and a blocking wait, 17 waits in all: one LISTEN connection
    assert max(listen for _, listen in counts) == 1
    assert max(total for total, _ in counts) <= 2 + 1  # and the pool's two
    assert results["awaited"] == [2 * n for n in range(8)]
    assert results["blocking"] == 101


def _kill_result_listener(db_url: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory'"
            " AND mode = 'ShareLock' AND granted AND database ="
            " (SELECT oid FROM pg_database WHERE datname = current_database())"
        )


def test_a_closed_apps_result_listener_ends_quietly_and_an_open_ones_loss_is_reported(
    db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    app = PQ(db_url)
    task_id = app.enqueue(funcs.add, 1, 2)
    lost = "result listener lost its connection"
    # A wait in progress, and its session cut from under it: a loss worth a warning.
    app._done_listener().watch(task_id)
    wait_until(lambda: listen_sessions(db_url) == 1)
    _kill_result_listener(db_url)
    wait_until(lambda: lost in caplog.text)
    # After close() the LISTEN is ending anyway (a test's database dropped, a script's
    # exit): its session killed in that moment is no loss, and says nothing.
    wait_until(lambda: listen_sessions(db_url) == 0)
    app.close()
    caplog.clear()
    app = PQ(db_url)  # a listener that has not failed, so it starts at once
    app._done_listener().watch(task_id)
    wait_until(lambda: listen_sessions(db_url) == 1)
    app.close()
    _kill_result_listener(db_url)
    wait_until(lambda: not any(t.name == "pq-result-listener" for t in threading.enumerate()))
    assert lost not in caplog.text
