"""Enqueueing and awaiting results from `async def` code: `adelay`/`aapply_async` and
`await handle.aresult(timeout)` behave as their blocking twins and leave the event loop free."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from pq import PQ, ResultTimeoutError, TaskFailedError, TaskHandle, TaskNotFoundError
from pq.testing import eager
from taskmods import funcs


def test_aresult_waits_for_a_worker_without_blocking_the_event_loop(db_url: str) -> None:
    app = PQ(db_url)
    add = app.task(funcs.add)
    handle = add.delay(20, 22)
    loop_alive = threading.Event()
    results: dict[str, Any] = {}

    async def endpoint() -> None:
        waiter = asyncio.create_task(handle.aresult(timeout=60))
        await asyncio.sleep(0)  # the waiter's first step runs: a blocking wait would hang here
        second = await add.adelay(1, 2)  # the loop still serves other work meanwhile
        loop_alive.set()
        results["first"] = await waiter
        results["second"] = await second.aresult(timeout=60)

    loop_thread = threading.Thread(target=lambda: asyncio.run(endpoint()), daemon=True)
    loop_thread.start()
    try:
        assert loop_alive.wait(30), "the event loop was blocked while aresult() waited"
    finally:
        worker_app = PQ(db_url)
        worker_app.run_worker(burst=True)  # releases the waiter whatever happened
        loop_thread.join(60)
        worker_app.close()
        app.close()
    assert results == {"first": 42, "second": 3}


def test_aresult_raises_what_result_raises(app: PQ) -> None:
    failing = app.task(funcs.fail).delay("no stock")
    pending = app.task(funcs.add).apply_async((1, 1), queue="nobody-listens")
    app.run_worker(burst=True)

    async def read() -> None:
        with pytest.raises(TaskFailedError) as failed:
            await failing.aresult(timeout=10)
        assert "ValueError: no stock" in (failed.value.remote_traceback or "")
        with pytest.raises(ResultTimeoutError):
            await pending.aresult(timeout=0.3)
        with pytest.raises(TaskNotFoundError):
            await TaskHandle(app, 987654321).aresult(timeout=1)

    asyncio.run(read())


def test_aapply_async_takes_the_options_of_apply_async(app: PQ) -> None:
    add = app.task(funcs.add)

    async def enqueue() -> TaskHandle:
        return await add.aapply_async((2, 3), queue="reports", priority="high")

    handle = asyncio.run(enqueue())
    task = handle.snapshot()
    assert (task.queue, task.priority) == ("reports", 75)
    app.run_worker(burst=True, queues=["reports"])
    assert handle.result(timeout=10) == 5


def test_in_eager_mode_the_async_calls_run_the_task_at_once(app: PQ) -> None:
    add = app.task(funcs.add)

    async def endpoint() -> Any:
        handle = await add.adelay(4, 5)
        return await handle.aresult(timeout=1)

    with eager(app) as enqueued:
        assert asyncio.run(endpoint()) == 9
    assert [c.name for c in enqueued.calls] == [add.name]
