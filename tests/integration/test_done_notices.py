"""A task's end is announced on the done channel only while someone waits for task ends.

Every NOTIFY wakes every listening session of the database (each idle worker's too), whatever
its channel: announcing every end that nobody waits for made 8 workers cost the database 5x
the commits per task of one worker. A session waiting for results says so (shared advisory
locks taken after its LISTEN, channel_done_wait.sql); a finish notifies only then.
"""

from __future__ import annotations

import threading
from typing import Any

import psycopg

from pq import PQ
from pq.store.db import PsycopgExecutor
from taskmods import funcs


def _payloads(conn: psycopg.Connection[Any], timeout: float) -> list[str]:
    return [n.payload for n in conn.notifies(timeout=timeout)]


def test_a_task_end_nobody_waits_for_sends_no_done_notice(app: PQ, db_url: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as plain:
        plain.execute(f'LISTEN "{app.queries.channel_done}"')  # listens, but does not wait
        app.enqueue(funcs.add, 1, 2)
        assert app.run_worker(burst=True) == 1
        assert _payloads(plain, 0.5) == []


def test_finishes_running_at_once_do_not_take_each_other_for_waiters(app: PQ, db_url: str) -> None:
    with (
        psycopg.connect(db_url) as finishing,  # another finish, holding 15 of the 16 slots
        psycopg.connect(db_url, autocommit=True) as plain,
    ):
        for slot in range(15):
            finishing.execute(
                "SELECT pg_try_advisory_xact_lock(%s, %s)", (app.queries.done_key, slot)
            )
        plain.execute(f'LISTEN "{app.queries.channel_done}"')
        app.enqueue(funcs.add, 1, 2)
        assert app.run_worker(burst=True) == 1
        assert _payloads(plain, 0.5) == []
        finishing.rollback()


def test_a_session_waiting_for_task_ends_hears_each_end(app: PQ, db_url: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as waiting:
        app.queries.listen_done(PsycopgExecutor(waiting))
        ids = [app.enqueue(funcs.add, i, 1) for i in range(3)]
        assert app.run_worker(burst=True) == 3
        heard = set()
        for _ in range(20):
            heard.update(_payloads(waiting, 0.2))
            if len(heard) == 3:
                break
        assert heard == {f"{task_id}:completed" for task_id in ids}


def test_ends_are_announced_again_once_nobody_waits_any_more(app: PQ, db_url: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as waiting:
        app.queries.listen_done(PsycopgExecutor(waiting))
    with psycopg.connect(db_url, autocommit=True) as plain:
        plain.execute(f'LISTEN "{app.queries.channel_done}"')
        app.enqueue(funcs.add, 1, 2)
        assert app.run_worker(burst=True) == 1
        assert _payloads(plain, 0.5) == []  # the waiter's locks went with its session


def test_result_waits_in_many_threads_all_return(db_url: str) -> None:
    app = PQ(db_url)
    handles = [app.task(funcs.add).delay(i, i) for i in range(6)]
    results: dict[int, object] = {}

    def wait(index: int) -> None:
        results[index] = handles[index].result(timeout=60)

    waiters = [threading.Thread(target=wait, args=(i,)) for i in range(len(handles))]
    for waiter in waiters:
        waiter.start()  # each blocks on the shared LISTEN until the worker records its end
    worker_app = PQ(db_url)
    worker_app.run_worker(burst=True)
    for waiter in waiters:
        waiter.join()
    assert results == {i: 2 * i for i in range(6)}
    app.close()
    worker_app.close()
