"""The async half of PQ's writing API: aenqueue, aupsert, aenqueue_many, and ainsert_task
under `aapply_async`. `PQ` inherits these methods.

With `connection=` an async connection (pq.store.db_async) the rows are written in the
caller's transaction on the event loop, by the same statements and row building as the sync
calls (pq/producer/enqueue.py); the statement carries its own NOTIFY, which Postgres delivers
when that transaction commits. Without one the sync call runs on the app's pool in a worker
thread, so the loop never waits on the database.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pq.models import Priority
from pq.producer.arguments import ShapeChecker
from pq.producer.enqueue import raise_enqueue_failure
from pq.producer.task import TaskOptions, resolve_run_at
from pq.telemetry import tracing

if TYPE_CHECKING:
    from pq.producer.facade import Interceptor
    from pq.store.queries import NewTaskRow, Queries


class AsyncEnqueueMixin:
    """Writing task rows from `async def` code (mixed into `PQ`, beside EnqueueMixin)."""

    if TYPE_CHECKING:
        queries: Queries
        interceptor: Interceptor | None

        def new_row(
            self,
            name: str,
            args: list[Any],
            kwargs: dict[str, Any],
            options: TaskOptions,
            *,
            run_at: datetime | None,
            client_id: str | None,
        ) -> NewTaskRow: ...
        def insert_task(
            self,
            name: str,
            args: list[Any],
            kwargs: dict[str, Any],
            options: TaskOptions,
            *,
            run_at: datetime | None,
            client_id: str | None,
            connection: Any = None,
        ) -> int: ...
        def _name_and_defaults(self, fn: Callable[..., Any] | str) -> tuple[str, TaskOptions]: ...
        def _check_call(
            self,
            fn: Callable[..., Any] | str,
            name: str,
            options: TaskOptions,
            args: tuple[Any, ...],
            kwargs: dict[str, Any],
        ) -> None: ...
        def _call_target(self, fn: Callable[..., Any] | str) -> Callable[..., Any]: ...

    async def ainsert_task(
        self,
        name: str,
        args: list[Any],
        kwargs: dict[str, Any],
        options: TaskOptions,
        *,
        run_at: datetime | None,
        client_id: str | None,
        connection: Any = None,
    ) -> int:
        """`insert_task` for `async def` code; every async single enqueue ends here."""
        if connection is None or self.interceptor is not None:
            call = functools.partial(
                self.insert_task, name, args, kwargs, options, run_at=run_at, client_id=client_id
            )
            return await asyncio.to_thread(call)
        from pq.store.db_async import async_executor_for  # drivers imported only when used

        try:
            with tracing.enqueue_span(name, options.queue) as span:
                row = self.new_row(name, args, kwargs, options, run_at=run_at, client_id=client_id)
                ex = await async_executor_for(connection)
                # A caller's transaction always notifies in its statement: we do not see its
                # commit, and Postgres delivers the notice only then.
                task_id = await self.queries.atask_insert(ex, row, notify=True)
                if span is not None:
                    span.set_attribute("pq.task.id", task_id)
                return task_id
        except Exception as exc:
            raise_enqueue_failure(exc, self.queries.schema, client_id)
            raise

    async def aenqueue(
        self,
        fn: Callable[..., Any] | str,
        *args: Any,
        run_at: datetime | None = None,
        countdown: float | None = None,
        priority: Priority | int | str | None = None,
        client_id: str | None = None,
        queue: str | None = None,
        connection: Any = None,
        **kwargs: Any,
    ) -> int:
        """`enqueue()` for `async def` code; `connection=` takes an async connection (see
        `TaskFunction.aapply_async`), whose transaction the row then commits with."""
        name, defaults = self._name_and_defaults(fn)
        self._check_call(fn, name, defaults, args, kwargs)
        return await self.ainsert_task(
            name,
            list(args),
            kwargs,
            defaults.merged(priority=priority, queue=queue),
            run_at=resolve_run_at(run_at, countdown),
            client_id=client_id,
            connection=connection,
        )

    async def aupsert(
        self,
        fn: Callable[..., Any] | str,
        *args: Any,
        client_id: str,
        run_at: datetime | None = None,
        countdown: float | None = None,
        priority: Priority | int | str | None = None,
        queue: str | None = None,
        connection: Any = None,
        **kwargs: Any,
    ) -> int:
        """`upsert()` for `async def` code; `connection=` takes an async connection."""
        from pq.producer.upsert import aupsert_one

        name, defaults = self._name_and_defaults(fn)
        self._check_call(fn, name, defaults, args, kwargs)
        app: Any = self  # PQ, which mixes this in, is a Producer
        return await aupsert_one(
            app,
            name,
            list(args),
            kwargs,
            defaults.merged(priority=priority, queue=queue),
            client_id=client_id,
            run_at=resolve_run_at(run_at, countdown),
            connection=connection,
        )

    async def aenqueue_many(
        self,
        fn: Callable[..., Any],
        items: Iterable[Any],
        *,
        run_at: datetime | None = None,
        countdown: float | None = None,
        priority: Priority | int | str | None = None,
        queue: str | None = None,
        connection: Any = None,
    ) -> list[int]:
        """`enqueue_many()` for `async def` code; `connection=` takes an async connection,
        and the COPY and the wake-up run in its transaction."""
        from pq.producer.bulk import ainsert_many, insert_many

        name, defaults = self._name_and_defaults(fn)
        options = defaults.merged(priority=priority, queue=queue)
        when = resolve_run_at(run_at, countdown)
        checker = ShapeChecker(self._call_target(fn), name) if options.check_arguments else None
        app: Any = self  # PQ, which mixes this in, is a Producer
        if connection is None:
            call = functools.partial(
                insert_many, app, name, items, options, run_at=when, checker=checker
            )
            return await asyncio.to_thread(call)
        return await ainsert_many(
            app, name, items, options, run_at=when, connection=connection, checker=checker
        )
