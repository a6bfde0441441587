"""What `@app.task` returns, and the handle that `.delay()` gives back."""

from __future__ import annotations

import asyncio
import functools
import json
import time
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, Protocol, TypeVar, overload

from pq.errors import (
    ConfigurationError,
    ResultTimeoutError,
    TaskCancelledError,
    TaskFailedError,
    TaskNotFoundError,
)
from pq.models import OutcomeKind, Priority, Task, TaskStatus, coerce_priority
from pq.producer.arguments import check_arguments
from pq.producer.rates import parse_rate
from pq.retry import Backoff, coerce_backoff, coerce_retry_on
from pq.settings import parse_size

if TYPE_CHECKING:
    from pq.canvas import Signature
    from pq.producer.facade import Producer

P = ParamSpec("P")
R = TypeVar("R")

_UNSET: Any = object()  # an argument not passed (None means "no timeout")


@dataclass(frozen=True)
class TaskOptions:
    """Per-task defaults, set by the decorator and overridable per call."""

    priority: int = int(Priority.NORMAL)
    queue: str = "default"
    max_runtime: float | None = None
    max_memory: int | None = None  # bytes ('512MiB' is accepted and converted)
    retries: int = 0
    retry_on: tuple[str, ...] | None = None  # outcome kinds; None: pq.retry.DEFAULT_RETRY_ON
    backoff: Backoff | None = None  # None: pq.retry.DEFAULT_BACKOFF
    max_cpu: float | None = None  # CPU seconds
    tasks_per_child: int | None = None  # None: the worker's setting (see pq/worker/reuse.py)
    rate_limit: str | None = None  # "100/m": starts per window for the whole fleet
    concurrency_key: str | None = None  # tasks with one key run at most
    max_concurrency_per_key: int | None = None  # ... this many at once (default 1)
    # bind each call's arguments to the signature at enqueue (Celery's `typing`); not stored
    check_arguments: bool = True
    extra: Mapping[str, Any] = field(default_factory=dict)  # stored as-is in the row's options

    def __post_init__(self) -> None:
        # Normalised here so every path (decorator, apply_async) stores the same shape.
        object.__setattr__(self, "max_memory", parse_size(self.max_memory))
        object.__setattr__(self, "retry_on", coerce_retry_on(self.retry_on))
        object.__setattr__(self, "backoff", coerce_backoff(self.backoff))
        if self.max_cpu is not None and self.max_cpu <= 0:
            raise ConfigurationError(f"max_cpu={self.max_cpu}: it must be > 0 CPU seconds")
        if self.max_runtime is not None and self.max_runtime <= 0:
            raise ConfigurationError(f"max_runtime={self.max_runtime}: it must be > 0 seconds")
        if self.tasks_per_child is not None and self.tasks_per_child < 1:
            raise ConfigurationError(f"tasks_per_child={self.tasks_per_child}: it must be >= 1")
        if self.retries < 0:
            raise ConfigurationError(f"retries={self.retries}: it must be 0 or more")
        if not self.queue:
            raise ConfigurationError("queue must be a non-empty name")
        if self.rate_limit is not None:
            parse_rate(self.rate_limit)
        if self.max_concurrency_per_key is not None and self.max_concurrency_per_key < 1:
            raise ConfigurationError(
                f"max_concurrency_per_key={self.max_concurrency_per_key}: it must be 1 or more"
            )

    def row_options(self) -> dict[str, Any]:
        """The options stored in a task's row (a new dict: callers add trace and signature)."""
        return dict(self._row_options)

    @functools.cached_property
    def options_json(self) -> str:
        """`row_options()` as JSON text, encoded once per TaskOptions (they are frozen, and a
        call that changes an option gets a new one from `merged`)."""
        return json.dumps(self._row_options)

    @functools.cached_property
    def _row_options(self) -> dict[str, Any]:
        options: dict[str, Any] = dict(self.extra)
        if self.max_runtime is not None:
            options["max_runtime"] = self.max_runtime
        if self.max_memory is not None:
            options["max_memory"] = self.max_memory
        if self.max_cpu is not None:
            options["max_cpu"] = self.max_cpu
        if self.tasks_per_child is not None:
            options["tasks_per_child"] = self.tasks_per_child
        if self.retry_on is not None:
            options["retry_on"] = list(self.retry_on)
        if self.backoff is not None:
            options["backoff"] = self.backoff.to_options()
        if self.rate_limit is not None:
            count, seconds = parse_rate(self.rate_limit)
            options["rate_limit"] = {"count": count, "seconds": seconds, "spec": self.rate_limit}
        return options

    def flow_columns(self, name: str) -> dict[str, Any]:
        """The flow-control columns of a row of task `name` (docs/workflows.md): its rate
        bucket is the task's name; a concurrency key without a limit allows one at a time."""
        limit = None
        if self.concurrency_key is not None:
            limit = self.max_concurrency_per_key or 1
        return {
            "rate_key": name if self.rate_limit is not None else None,
            "concurrency_key": self.concurrency_key,
            "concurrency_limit": limit,
        }

    def merged(self, **changes: Any) -> TaskOptions:
        given = {k: v for k, v in changes.items() if v is not None}
        if "priority" in given:
            given["priority"] = coerce_priority(given["priority"])
        return replace(self, **given) if given else self


def resolve_run_at(
    run_at: datetime | None, countdown: float | None, eta: datetime | None = None
) -> datetime | None:
    """When a task may run: None means now. Naive datetimes are refused (see docs/enqueueing)."""
    given = "run_at"
    if eta is not None:
        if run_at is not None:
            raise ConfigurationError("pass run_at or eta (its Celery alias), not both")
        run_at, given = eta, "eta"
    if run_at is not None and countdown is not None:
        raise ConfigurationError(f"pass {given} or countdown, not both")
    if countdown is not None:
        return datetime.now(UTC) + timedelta(seconds=countdown)
    if run_at is not None and (run_at.tzinfo is None or run_at.utcoffset() is None):
        raise ConfigurationError(
            f"{given}={run_at.isoformat()} has no timezone, so its moment is ambiguous; "
            "pass an aware datetime such as datetime.now(UTC) + timedelta(hours=1)"
        )
    return run_at


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


class TaskFunction(Generic[P, R]):
    """A registered task: call it to run inline, `.delay()` / `.apply_async()` to enqueue."""

    def __init__(self, app: Producer, fn: Callable[P, R], name: str, options: TaskOptions) -> None:
        self.app = app
        self.fn = fn
        self.name = name
        self.options = options
        functools.update_wrapper(self, fn)

    def __repr__(self) -> str:
        return f"<TaskFunction {self.name}>"

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        return self.fn(*args, **kwargs)

    def delay(self, *args: P.args, **kwargs: P.kwargs) -> TaskHandle:
        return self.apply_async(args, kwargs)

    def s(self, *args: Any, **kwargs: Any) -> Signature:
        """A signature of this call for chain/group/chord (pq.canvas); the previous step's
        result is put before `args` when it runs in a chain."""
        from pq.canvas import Signature

        return Signature(self, args, kwargs)

    def si(self, *args: Any, **kwargs: Any) -> Signature:
        """An immutable signature: in a chain it ignores the previous step's result."""
        from pq.canvas import Signature

        return Signature(self, args, kwargs, immutable=True)

    async def adelay(self, *args: P.args, **kwargs: P.kwargs) -> TaskHandle:
        """`delay()` for `async def` code: the insert runs in a worker thread, off the loop."""
        return await asyncio.to_thread(self.apply_async, args, kwargs)

    async def aapply_async(
        self, args: Iterable[Any] = (), kwargs: Mapping[str, Any] | None = None, **options: Any
    ) -> TaskHandle:
        """`apply_async()` for `async def` code (same options), off the event loop."""
        call = functools.partial(self.apply_async, args, kwargs, **options)
        return await asyncio.to_thread(call)

    def apply_async(
        self,
        args: Iterable[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        *,
        run_at: datetime | None = None,
        countdown: float | None = None,
        eta: datetime | None = None,
        priority: Priority | int | str | None = None,
        client_id: str | None = None,
        queue: str | None = None,
        max_runtime: float | None = None,
        connection: Any = None,
        retries: int | None = None,
        retry_on: Iterable[OutcomeKind | str] | None = None,
        backoff: Backoff | float | None = None,
        max_memory: int | str | None = None,
        max_cpu: float | None = None,
        rate_limit: str | None = None,
        concurrency_key: str | None = None,
        max_concurrency_per_key: int | None = None,
    ) -> TaskHandle:
        options = self.options.merged(
            priority=priority,
            queue=queue,
            max_runtime=max_runtime,
            retries=retries,
            retry_on=retry_on,
            backoff=backoff,
            max_memory=max_memory,
            max_cpu=max_cpu,
            rate_limit=rate_limit,
            concurrency_key=concurrency_key,
            max_concurrency_per_key=max_concurrency_per_key,
        )
        args, kwargs = list(args), dict(kwargs or {})
        if options.check_arguments:
            check_arguments(self.fn, self.name, args, kwargs)
        task_id = self.app.insert_task(
            self.name,
            args,
            kwargs,
            options,
            run_at=resolve_run_at(run_at, countdown, eta),
            client_id=client_id,
            connection=connection,
        )
        return handle_for(self.app, task_id)

    def upsert(
        self, *args: Any, client_id: str, connection: Any = None, **kwargs: Any
    ) -> TaskHandle:
        """Like `delay()`, but replaces the task with this client_id (see `PQ.upsert`)."""
        from pq.producer.upsert import upsert_one

        if self.options.check_arguments:
            check_arguments(self.fn, self.name, args, kwargs)
        task_id = upsert_one(
            self.app,
            self.name,
            list(args),
            kwargs,
            self.options,
            client_id=client_id,
            run_at=None,
            connection=connection,
        )
        return handle_for(self.app, task_id)

    def map(
        self,
        items: Iterable[Any],
        *,
        run_at: datetime | None = None,
        countdown: float | None = None,
        priority: Priority | int | str | None = None,
        queue: str | None = None,
        connection: Any = None,
    ) -> list[int]:
        """One task per item in a single COPY (see `PQ.enqueue_many`); returns their ids."""
        return self.app.enqueue_many(
            self,
            items,
            run_at=run_at,
            countdown=countdown,
            priority=priority,
            queue=queue,
            connection=connection,
        )


def handle_for(app: Producer, task_id: int) -> TaskHandle:
    """The handle `.delay()` returns: a database one, or pq.testing's in eager mode."""
    if app.interceptor is not None:
        return app.interceptor.handle(task_id)
    return TaskHandle(app, task_id)


class TaskDecorator(Protocol):
    """What `@app.task(...)` with options returns: it turns a function into a TaskFunction."""

    def __call__(self, fn: Callable[P, R], /) -> TaskFunction[P, R]: ...
