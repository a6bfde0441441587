"""Upsert by client_id (debounce): replace a waiting task, or park a new version on a
running one so that it runs after the current run, never beside it (see task_upsert.sql)."""

from __future__ import annotations

import asyncio
import functools
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pq.errors import ConfigurationError

if TYPE_CHECKING:
    from pq.producer.facade import Producer
    from pq.producer.task import TaskOptions


def upsert_one(
    app: Producer,
    name: str,
    args: list[Any],
    kwargs: dict[str, Any],
    options: TaskOptions,
    *,
    client_id: str,
    run_at: datetime | None,
    connection: Any = None,
) -> int:
    """Writes the task under `client_id` and returns its id (the same id every time)."""
    _check(name, client_id, options)
    if app.interceptor is not None:
        return app.interceptor.insert(
            name, args, kwargs, options, run_at=run_at, client_id=client_id
        )
    new = app.new_row(name, args, kwargs, options, run_at=run_at, client_id=client_id)
    with app.executor(connection) as ex:
        row = app.queries.task_upsert(ex, new)
    return int(row["id"])


async def aupsert_one(
    app: Producer,
    name: str,
    args: list[Any],
    kwargs: dict[str, Any],
    options: TaskOptions,
    *,
    client_id: str,
    run_at: datetime | None,
    connection: Any = None,
) -> int:
    """`upsert_one` for `async def` code: in the transaction of an async `connection=`, else
    on the app's pool in a worker thread."""
    if connection is None or app.interceptor is not None:
        call = functools.partial(
            upsert_one, app, name, args, kwargs, options, client_id=client_id, run_at=run_at
        )
        return await asyncio.to_thread(call)
    _check(name, client_id, options)
    from pq.store.db_async import async_executor_for

    new = app.new_row(name, args, kwargs, options, run_at=run_at, client_id=client_id)
    ex = await async_executor_for(connection)
    return int((await app.queries.atask_upsert(ex, new))["id"])


def _check(name: str, client_id: str, options: TaskOptions) -> None:
    if not client_id:
        raise ConfigurationError("upsert needs a client_id: it is what identifies the task")
    if options.rate_limit is not None or options.concurrency_key is not None:
        raise ConfigurationError(
            f"{name}: upsert does not combine with rate_limit or concurrency_key (a replaced "
            "version would skip the limit); use delay()/apply_async() for limited tasks"
        )
