"""The handle that `.delay()` gives back: a task's id, its status and (once it ends) its
result."""

from __future__ import annotations

import time
import warnings
from typing import TYPE_CHECKING, Any, overload

from pq.errors import (
    ResultTimeoutError,
    TaskCancelledError,
    TaskFailedError,
    TaskNotFoundError,
)
from pq.models import Task, TaskStatus

if TYPE_CHECKING:
    from pq.producer.facade import Producer

_UNSET: Any = object()  # an argument not passed (None means "no timeout")


class TaskHandle:
    """A reference to one enqueued task: its id, status and (once it ends) its result."""

    def __init__(self, app: Producer, task_id: int) -> None:
        self.app = app
        self.id = task_id

    def __repr__(self) -> str:
        return f"<TaskHandle id={self.id}>"

    def __int__(self) -> int:
        return self.id

    @overload
    def get(self) -> Task: ...
    @overload
    def get(self, timeout: float | None, propagate: bool = True) -> Any: ...
    @overload
    def get(self, *, propagate: bool) -> Any: ...

    def get(self, timeout: Any = _UNSET, propagate: Any = _UNSET) -> Any:
        """Celery's `AsyncResult.get(timeout=..., propagate=...)`: waits for the task and
        returns its value (see `result()`); with propagate=False a failure is returned, not
        raised.

        Deprecated: a bare `get()` still returns the `Task` snapshot, with a
        DeprecationWarning; call `snapshot()` for that. It will wait for the result, as
        Celery's does, in a later release.
        """
        if timeout is _UNSET and propagate is _UNSET:
            warnings.warn(
                "TaskHandle.get() without arguments returns the Task snapshot; call "
                "handle.snapshot() for it, or handle.get(timeout=...) for the result as "
                "Celery's AsyncResult.get() gives it (a bare get() will wait for the result "
                "in a later release)",
                DeprecationWarning,
                stacklevel=2,
            )
            return self.snapshot()
        wait = None if timeout is _UNSET else timeout
        try:
            return self.result(wait)
        except (TaskFailedError, TaskCancelledError) as exc:
            if propagate is _UNSET or propagate:
                raise
            return exc

    def snapshot(self) -> Task:
        """The task's row as it is now: status, attempts, error, result (decoded)."""
        task = self.app.get_task(self.id)
        if task is None:
            raise TaskNotFoundError(f"task {self.id} does not exist (was it cleared?)")
        return task

    def status(self) -> TaskStatus:
        return self.snapshot().status

    def cancel(self) -> bool:
        return self.app.cancel(self.id)

    def result(self, timeout: float | None = None) -> Any:
        """Waits until the task ends; returns its value, or raises TaskFailedError."""
        deadline = None if timeout is None else time.monotonic() + timeout
        return self._value_of(self.app.wait_for_end(self.id, deadline), timeout)

    async def aresult(self, timeout: float | None = None) -> Any:
        """`result()` for `async def` code: awaits the end (woken through the process's
        shared LISTEN connection), so the event loop serves other requests meanwhile. Same
        value, same exceptions."""
        deadline = None if timeout is None else time.monotonic() + timeout
        return self._value_of(await self.app.await_end(self.id, deadline), timeout)

    def _value_of(self, task: Task | None, timeout: float | None) -> Any:
        if task is None:
            raise ResultTimeoutError(f"task {self.id} did not finish within {timeout}s")
        if task.status is TaskStatus.COMPLETED:
            # Already decoded when read; decoding again raises the error of an envelope that
            # did not decode (a no-op for any other value).
            return self.app.codec.decode_value(task.result)
        if task.status is TaskStatus.CANCELLED:
            raise TaskCancelledError(f"task {self.id} ({task.name}) was cancelled")
        raise TaskFailedError(
            f"task {self.id} ({task.name}) failed ({task.outcome}): "
            f"{(task.error or '').strip().splitlines()[-1] if task.error else 'no error text'}",
            task_id=self.id,
            remote_traceback=task.error,
        )


def handle_for(app: Producer, task_id: int) -> TaskHandle:
    """The handle `.delay()` returns: a database one, or pq.testing's in eager mode."""
    if app.interceptor is not None:
        return app.interceptor.handle(task_id)
    return TaskHandle(app, task_id)
