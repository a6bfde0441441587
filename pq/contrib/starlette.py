"""pq in a Starlette or FastAPI application: the producer pool opens and closes with the app.

    queue = PQ()
    api = FastAPI(lifespan=pq_lifespan(queue))

    @api.post("/reports")
    async def report(n: int) -> dict[str, int]:
        handle = await build_report.adelay(n)        # the insert runs off the event loop
        return {"value": await handle.aresult(timeout=10)}  # awaits the worker, loop free

Startup opens the pool (so a wrong URL or a stopped database fails the deploy, not the first
request), optionally applies pq's migrations, and puts the app in the lifespan state
(`request.state.pq`); shutdown closes the pool. Tasks run in `pq worker`, never in the web
process: the worker forks, which a threaded ASGI server must not do.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from pq import PQ

Lifespan = Callable[[Any], AbstractAsyncContextManager[Any]]


def open_pool(app: PQ) -> None:
    """Opens the producer pool now and checks that the database answers."""
    with app.executor():
        pass


def pq_lifespan(app: PQ, *, migrate: bool = False, wraps: Lifespan | None = None) -> Lifespan:
    """A lifespan for `Starlette(lifespan=...)` / `FastAPI(lifespan=...)`.

    migrate: apply pq's migrations at startup (fine for one instance; with several, run
    `pq migrate` in the deploy step instead). wraps: your own lifespan, entered inside
    pq's (so it can enqueue), whose state is merged with `{"pq": app}`.
    """

    @asynccontextmanager
    async def lifespan(asgi_app: Any) -> AsyncIterator[dict[str, Any]]:
        # Blocking calls (connecting, migrating) go to a thread: the loop keeps serving.
        if migrate:
            await asyncio.to_thread(app.run_db_migrations)
        await asyncio.to_thread(open_pool, app)
        try:
            state: dict[str, Any] = {"pq": app}
            if wraps is None:
                yield state
            else:
                async with wraps(asgi_app) as inner:
                    yield {**(inner or {}), **state}
        finally:
            await asyncio.to_thread(app.close)

    return lifespan


__all__ = ["pq_lifespan"]
