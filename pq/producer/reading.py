"""The reading half of PQ's public API: look tasks up, list and count them, clear old ones,
and wait for one to end (blocking, or awaiting in an event loop). `PQ` inherits these
methods."""

from __future__ import annotations

import asyncio
import threading
import time
from contextlib import AbstractContextManager, suppress
from datetime import datetime
from typing import TYPE_CHECKING, Any

import psycopg

from pq.errors import SerializationError, TaskNotFoundError
from pq.models import Task, TaskStatus
from pq.producer.waits import POLL_FIRST, POLL_MAX, DoneListener, LoopWaker
from pq.store import pooler
from pq.store.db import Executor, PsycopgExecutor, connect
from pq.store.migrate import check_schema_current

if TYPE_CHECKING:
    from pq.serialization import Codec
    from pq.settings import Settings
    from pq.store.queries import Queries

_FINAL = {TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED}
_LISTENER_LOCK = threading.Lock()


class ReadingMixin:
    """Task lookups and clean-up on a PQ (mixed into `PQ`)."""

    if TYPE_CHECKING:
        queries: Queries
        codec: Codec
        settings: Settings

        @property
        def database_url(self) -> str: ...

        def executor(self, connection: Any = None) -> AbstractContextManager[Executor]: ...
        def connect(self) -> psycopg.Connection[Any]: ...

    def task_from_row(self, row: dict[str, Any]) -> Task:
        """The Task snapshot of a row, its result decoded (a pickled result becomes the
        object again), so every reading call shows the value the task returned. A result
        that no longer decodes is shown as stored rather than failing the read."""
        task = Task.from_row(row)
        try:
            decoded = self.codec.decode_value(task.result)
        except SerializationError:
            return task
        return task if decoded is task.result else task.model_copy(update={"result": decoded})

    def check_schema(self, upgrade_hint: str = "pq migrate APP") -> None:
        """Raises SchemaOutdatedError unless the database has every migration this pq needs
        (framework checks and health probes call it; `run_db_migrations()` fixes it)."""
        with self.connect() as conn:
            check_schema_current(PsycopgExecutor(conn), self.queries, upgrade_hint=upgrade_hint)

    def get_task(self, task_id: int) -> Task | None:
        with self.executor() as ex:
            row = self.queries.task_get(ex, task_id)
        return self.task_from_row(row) if row else None

    def get_task_by_client_id(self, client_id: str) -> Task | None:
        with self.executor() as ex:
            row = self.queries.task_get_by_client_id(ex, client_id)
        return self.task_from_row(row) if row else None

    def list_failed(self, limit: int = 100) -> list[Task]:
        return self._list_finished(TaskStatus.FAILED, limit)

    def list_completed(self, limit: int = 100) -> list[Task]:
        return self._list_finished(TaskStatus.COMPLETED, limit)

    def _list_finished(self, status: TaskStatus, limit: int) -> list[Task]:
        with self.executor() as ex:
            rows = self.queries.task_list_finished(ex, status.value, limit)
        return [self.task_from_row(r) for r in rows]

    def pending_count(self) -> int:
        with self.executor() as ex:
            return self.queries.task_count_pending(ex)

    def clear_failed(self, before: datetime | None = None) -> int:
        """Deletes failed tasks that finished before `before` (all if None); returns how many."""
        with self.executor() as ex:
            return self.queries.task_delete_finished(ex, TaskStatus.FAILED.value, before)

    def clear_completed(self, before: datetime | None = None) -> int:
        """Deletes completed tasks that finished before `before` (all if None)."""
        with self.executor() as ex:
            return self.queries.task_delete_finished(ex, TaskStatus.COMPLETED.value, before)

    def wait_for_end(self, task_id: int, deadline: float | None) -> Task | None:
        """Blocks until the task is completed, failed or cancelled (None at the deadline).

        Watches the done channel (through the process's one shared LISTEN connection) before
        reading the row, so an end between the read and the wait still wakes us. Without a
        LISTEN (behind a pooler with no listen URL, or the database briefly away) it polls,
        first every 50 ms, slowing to once a second.
        """
        listener = self._done_listener()
        event = listener.watch(task_id)
        poll = POLL_FIRST
        try:
            while True:
                task = self._read_for_wait(task_id)
                if task.status in _FINAL:
                    return task
                wait = _next_wait(deadline)
                if wait is None:
                    return None
                if listener.listening:
                    event.wait(wait)  # a safety re-read every few seconds, for a lost notice
                    event.clear()
                else:
                    time.sleep(min(poll, wait))
                    poll = min(POLL_MAX, poll * 1.5)
                    listener.retry_if_due()
        finally:
            listener.unwatch(task_id, event)

    def _read_for_wait(self, task_id: int) -> Task:
        with self.executor() as ex:
            row = self.queries.task_get(ex, task_id)
        if row is None:
            raise TaskNotFoundError(f"task {task_id} does not exist (was it cleared?)")
        return self.task_from_row(row)

    def _done_listener(self) -> DoneListener:
        listener: DoneListener | None = self.__dict__.get("_pq_done_listener")
        if listener is None:
            with _LISTENER_LOCK:
                listener = self.__dict__.get("_pq_done_listener")
                if listener is None:
                    listener = DoneListener(
                        self._listen_connect, self.queries, pooled_url=self._listen_is_pooled
                    )
                    self.__dict__["_pq_done_listener"] = listener
        return listener

    def _listen_connect(self) -> psycopg.Connection[Any]:
        return connect(self.settings.listen_url or self.database_url)

    def _listen_is_pooled(self) -> bool:
        """LISTEN through a pooler hears nothing: only a direct listen URL, or none at all."""
        return self.settings.listen_url is None and bool(pooler.is_pooled(self.database_url))

    async def await_end(self, task_id: int, deadline: float | None) -> Task | None:
        """`wait_for_end` for an event loop, on the same shared LISTEN connection: the
        listening thread wakes this coroutine through its loop, so every wait of the process
        (blocking or awaiting, in any loop) holds that one connection, and the loop is free
        while it waits. The row is read through the pool in a worker thread (as `adelay`
        inserts), a few milliseconds each time."""
        listener = self._done_listener()
        waker = LoopWaker()
        await _until_set(listener.add(task_id, waker))
        poll = POLL_FIRST
        try:
            while True:
                task = await asyncio.to_thread(self._read_for_wait, task_id)
                if task.status in _FINAL:
                    return task
                wait = _next_wait(deadline)
                if wait is None:
                    return None
                if listener.listening:
                    # a safety re-read every few seconds, for a lost notice
                    with suppress(TimeoutError):
                        await asyncio.wait_for(waker.event.wait(), wait)
                    waker.event.clear()
                else:
                    await asyncio.sleep(min(poll, wait))
                    poll = min(POLL_MAX, poll * 1.5)
                    await _until_set(listener.restart_if_due())
        finally:
            listener.unwatch(task_id, waker)


async def _until_set(ready: threading.Event | None) -> None:
    """Waits (at most 15 s, without blocking the loop) until a LISTEN just started is in
    place, so the row is read only once an end can no longer slip by unheard."""
    limit = time.monotonic() + 15
    while ready is not None and not ready.is_set() and time.monotonic() < limit:
        await asyncio.sleep(0.005)


def _next_wait(deadline: float | None) -> float | None:
    """Seconds to wait for the next notice (a poll every 5 s as a safety net against a lost
    one), or None once the deadline has passed."""
    remaining = None if deadline is None else deadline - time.monotonic()
    if remaining is not None and remaining <= 0:
        return None
    return 5.0 if remaining is None else min(5.0, remaining)
