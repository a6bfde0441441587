"""The narrow interfaces through which producer objects reach their app.

A `TaskFunction` and its `TaskHandle` must enqueue and read through the app they belong to,
but they get only the calls listed here, not the whole `PQ`: they cannot touch its pool, its
settings or the worker. `PQ` satisfies these protocols structurally (mypy checks it where
`PQ` passes itself in), so nothing here imports `pq.app`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from pq.models import Priority, Task
    from pq.producer.task import TaskHandle, TaskOptions
    from pq.serialization import Codec
    from pq.store.db import Executor
    from pq.store.queries import NewTaskRow, Queries


class Interceptor(Protocol):
    """What an app hands every enqueue to while a testing mode (pq.testing) is active."""

    def insert(
        self,
        name: str,
        args: list[Any],
        kwargs: dict[str, Any],
        options: TaskOptions,
        *,
        run_at: datetime | None,
        client_id: str | None,
    ) -> int: ...

    def handle(self, task_id: int) -> TaskHandle: ...


class Producer(Protocol):
    """What task functions, handles, bulk and upsert use of their app."""

    codec: Codec
    queries: Queries
    interceptor: Interceptor | None

    def executor(self, connection: Any = None) -> AbstractContextManager[Executor]: ...

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
    ) -> int: ...

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
    ) -> list[int]: ...

    def enqueue_many(
        self,
        fn: Callable[..., Any],
        items: Iterable[Any],
        *,
        run_at: datetime | None = None,
        countdown: float | None = None,
        priority: Priority | int | str | None = None,
        queue: str | None = None,
        connection: Any = None,
    ) -> list[int]: ...

    def get_task(self, task_id: int) -> Task | None: ...

    def cancel(self, task_id: int) -> bool: ...

    def cancel_workflow(self, workflow_id: int, *, timeout: float = ...) -> bool: ...

    def wait_for_end(self, task_id: int, deadline: float | None) -> Task | None: ...

    async def await_end(self, task_id: int, deadline: float | None) -> Task | None: ...
