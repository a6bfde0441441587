"""pq.contrib.starlette / pq.contrib.fastapi: the pool opens with the ASGI app (a bad database
fails the startup), endpoints reach the app through the lifespan state, the pool's connections
are gone after shutdown, and a lifespan of the user's own runs inside pq's."""

from __future__ import annotations

import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg
import pytest
from fastapi import FastAPI, Request

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette's notice about httpx vs httpx2
    from starlette.testclient import TestClient

from pq import PQ, DatabaseUnavailableError
from pq.contrib.fastapi import pq_lifespan
from taskmods import funcs


def connections_to(db_url: str) -> int:
    """Sessions on the test database other than the one asking."""
    with psycopg.connect(db_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchone()
    assert row is not None
    return int(row[0])


def test_the_pool_opens_and_closes_with_the_app(db_url: str) -> None:
    queue = PQ(db_url)
    add = queue.task(funcs.add)
    api = FastAPI(lifespan=pq_lifespan(queue))

    @api.post("/add")
    async def enqueue(request: Request, a: int, b: int) -> dict[str, Any]:
        handle = await add.adelay(a, b)
        return {"task_id": handle.id, "same_app": request.state.pq is queue}

    with TestClient(api) as client:
        assert connections_to(db_url) >= 1  # opened at startup, before any request
        answer = client.post("/add", params={"a": 2, "b": 3}).json()
        assert answer["same_app"] is True
    assert connections_to(db_url) == 0  # closed at shutdown

    queue.run_worker(burst=True)
    assert queue.get_task(answer["task_id"]).result == 5  # type: ignore[union-attr]
    queue.close()


def test_a_database_that_does_not_answer_fails_the_startup() -> None:
    queue = PQ("postgresql://nobody@127.0.0.1:1/nothing")
    api = FastAPI(lifespan=pq_lifespan(queue))
    with pytest.raises(DatabaseUnavailableError), TestClient(api):
        pass


def test_migrate_creates_the_tables_and_an_own_lifespan_runs_inside(empty_db_url: str) -> None:
    queue = PQ(empty_db_url)
    add = queue.task(funcs.add)
    events: list[str] = []

    @asynccontextmanager
    async def own(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        handle = await add.adelay(1, 1)  # pq is already open and migrated here
        events.append("own startup")
        yield {"warmup_task": handle.id}
        events.append("own shutdown")

    api = FastAPI(lifespan=pq_lifespan(queue, migrate=True, wraps=own))

    @api.get("/state")
    async def state(request: Request) -> dict[str, Any]:
        return {"warmup_task": request.state.warmup_task}

    with TestClient(api) as client:
        warmup = client.get("/state").json()["warmup_task"]
    assert events == ["own startup", "own shutdown"]
    assert queue.get_task(warmup) is not None
    queue.close()
