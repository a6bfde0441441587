"""Helpers for your own test suite: run tasks inline, or capture what code under test enqueues.

    from pq.testing import eager, capture

    def test_signup_sends_mail():
        with capture(app) as enqueued:
            signup("a@b.com")                       # calls send_email.delay(...)
        enqueued.assert_enqueued(send_email, "a@b.com", subject="Welcome")

    def test_signup_end_to_end():
        with eager(app):                            # .delay() runs the function right here
            handle = signup("a@b.com")
        assert handle.result() is None

Neither mode touches the database, so these tests need no Postgres and no worker. Both
encode and decode every argument as a real enqueue would, so an argument a worker could not
receive fails here too. Every enqueue path is covered: `delay`, `apply_async`, `enqueue`,
`upsert` and bulk (`map`, `enqueue_many`); `connection=` is ignored.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pq.errors import TaskCancelledError, TaskFailedError, TaskNotFoundError
from pq.models import TaskStatus
from pq.producer.task import TaskFunction, TaskHandle
from pq.registry import task_name_of
from pq.serialization import restore_arguments

if TYPE_CHECKING:
    from pq.app import PQ
    from pq.producer.task import TaskOptions

__all__ = ["Enqueued", "EnqueuedCall", "capture", "eager"]


@dataclass
class EnqueuedCall:
    """One enqueue seen by `capture` or `eager`, and (in eager mode) how its run ended."""

    id: int
    name: str
    args: list[Any]
    kwargs: dict[str, Any]
    queue: str
    priority: int
    run_at: datetime | None
    client_id: str | None
    status: TaskStatus = TaskStatus.PENDING
    result: Any = None
    error: BaseException | None = None


@dataclass
class Enqueued:
    """The calls enqueued inside a `capture` or `eager` block, in order."""

    app: PQ
    run_inline: bool
    propagate: bool
    calls: list[EnqueuedCall] = field(default_factory=list)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    # -- assertions --------------------------------------------------------------------------
    def of(self, fn: Callable[..., Any] | str) -> list[EnqueuedCall]:
        """The calls of one task (a function, a TaskFunction or a 'module:name')."""
        name = _name(fn)
        return [c for c in self.calls if c.name == name]

    def assert_enqueued(self, fn: Callable[..., Any] | str, *args: Any, **kwargs: Any) -> None:
        """Fails unless `fn` was enqueued with exactly these arguments (as stored: tuples
        become lists, pydantic models their dumps)."""
        wanted_args, wanted_kwargs = self._stored(list(args), kwargs)
        seen = self.of(fn)
        if not any(c.args == wanted_args and c.kwargs == wanted_kwargs for c in seen):
            got = [(c.args, c.kwargs) for c in seen] or "no call at all"
            raise AssertionError(
                f"{_name(fn)} was not enqueued with args={wanted_args} kwargs={wanted_kwargs}; "
                f"it was enqueued with: {got}"
            )

    def assert_not_enqueued(self, fn: Callable[..., Any] | str) -> None:
        seen = self.of(fn)
        if seen:
            raise AssertionError(f"{_name(fn)} was enqueued {len(seen)} time(s)")

    # -- the interceptor ---------------------------------------------------------------------
    def insert(
        self,
        name: str,
        args: list[Any],
        kwargs: dict[str, Any],
        options: TaskOptions,
        *,
        run_at: datetime | None,
        client_id: str | None,
    ) -> int:
        stored_args, stored_kwargs = self._stored(args, kwargs)
        call = EnqueuedCall(
            next(self._ids),
            name,
            stored_args,
            stored_kwargs,
            options.queue,
            options.priority,
            run_at,
            client_id,
        )
        self.calls.append(call)
        if self.run_inline:
            self._run(call)
        return call.id

    def handle(self, task_id: int) -> TaskHandle:
        return EagerHandle(self, task_id)

    def _stored(self, args: list[Any], kwargs: dict[str, Any]) -> tuple[list[Any], dict[str, Any]]:
        args_json, kwargs_json = self.app.codec.encode_arguments(args, kwargs)
        return json.loads(args_json), json.loads(kwargs_json)

    def _run(self, call: EnqueuedCall) -> None:
        fn = self.app.resolve(call.name)
        args, kwargs = self.app.codec.decode_arguments(call.args, call.kwargs)
        args, kwargs = restore_arguments(fn, args, kwargs)
        try:
            call.result = _call(fn, *args, **kwargs)
        except Exception as exc:
            call.status, call.error = TaskStatus.FAILED, exc
            if self.propagate:
                raise
            return
        call.status = TaskStatus.COMPLETED

    def find(self, task_id: int) -> EnqueuedCall:
        for call in self.calls:
            if call.id == task_id:
                return call
        raise TaskNotFoundError(f"task {task_id} was not enqueued in this testing block")


class EagerHandle(TaskHandle):
    """The handle `.delay()` returns in a testing mode: answers from memory, not the database."""

    def __init__(self, enqueued: Enqueued, task_id: int) -> None:
        super().__init__(enqueued.app, task_id)
        self.enqueued = enqueued

    def status(self) -> TaskStatus:
        return self.enqueued.find(self.id).status

    def cancel(self) -> bool:
        call = self.enqueued.find(self.id)
        if call.status is not TaskStatus.PENDING:
            return False
        call.status = TaskStatus.CANCELLED
        return True

    def result(self, timeout: float | None = None) -> Any:
        call = self.enqueued.find(self.id)
        if call.status is TaskStatus.FAILED:
            raise TaskFailedError(
                f"task {self.id} ({call.name}) failed: {call.error!r}",
                task_id=self.id,
                remote_traceback=repr(call.error),
            ) from call.error
        if call.status is TaskStatus.CANCELLED:
            raise TaskCancelledError(f"task {self.id} ({call.name}) was cancelled")
        return call.result

    async def aresult(self, timeout: float | None = None) -> Any:
        return self.result(timeout)


@contextmanager
def eager(app: PQ, *, propagate: bool = True) -> Iterator[Enqueued]:
    """Runs every task enqueued in the block at once, in this process (like Celery's
    task_always_eager). With propagate (the default) a task's exception reaches the caller
    of `.delay()`; without it, the handle's `.result()` raises TaskFailedError."""
    with _intercepting(app, Enqueued(app, run_inline=True, propagate=propagate)) as enqueued:
        yield enqueued


@contextmanager
def capture(app: PQ) -> Iterator[Enqueued]:
    """Records every task enqueued in the block without running or storing it."""
    with _intercepting(app, Enqueued(app, run_inline=False, propagate=False)) as enqueued:
        yield enqueued


@contextmanager
def _intercepting(app: PQ, enqueued: Enqueued) -> Iterator[Enqueued]:
    previous, app.interceptor = app.interceptor, enqueued
    try:
        yield enqueued
    finally:
        app.interceptor = previous


def _name(fn: Callable[..., Any] | str) -> str:
    if isinstance(fn, str):
        return fn
    if isinstance(fn, TaskFunction):
        return fn.name
    return task_name_of(fn)


def _call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    result = fn(*args, **kwargs)
    return asyncio.run(result) if inspect.iscoroutine(result) else result
