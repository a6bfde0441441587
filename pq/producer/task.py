"""What `@app.task` returns: TaskFunction and its per-call options (TaskOptions). The handle
that `.delay()` gives back is in pq.producer.handle."""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, Protocol, TypeVar

from pq.errors import ConfigurationError
from pq.models import OutcomeKind, Priority, coerce_priority
from pq.producer.arguments import check_arguments
from pq.producer.handle import TaskHandle, handle_for
from pq.producer.rates import parse_rate
from pq.retry import Backoff, coerce_backoff, coerce_retry_on
from pq.settings import parse_size

if TYPE_CHECKING:
    from pq.canvas import Signature
    from pq.producer.facade import Producer

P = ParamSpec("P")
R = TypeVar("R")

__all__ = ["TaskDecorator", "TaskFunction", "TaskHandle", "TaskOptions", "handle_for"]


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
        """`delay()` for `async def` code: the insert runs in a worker thread, off the loop
        (to enqueue in your own async transaction, see `aapply_async(connection=...)`)."""
        return await asyncio.to_thread(self.apply_async, args, kwargs)

    async def aapply_async(
        self,
        args: Iterable[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        *,
        connection: Any = None,
        **options: Any,
    ) -> TaskHandle:
        """`apply_async()` for `async def` code, with the same options.

        With `connection=` an open async connection (a psycopg `AsyncConnection`, an
        `asyncpg.Connection`, or a SQLAlchemy `AsyncConnection`/`AsyncSession` on either
        driver) the row is written in that connection's transaction, awaited on the event
        loop: it appears when you commit, and the workers are woken then. Without it the
        insert runs on the app's pool in a worker thread, off the loop."""
        if connection is None:
            call = functools.partial(self.apply_async, args, kwargs, **options)
            return await asyncio.to_thread(call)
        unknown = sorted(set(options) - _APPLY_OPTIONS)
        if unknown:
            raise TypeError(f"aapply_async() got unexpected option(s): {', '.join(unknown)}")
        client_id = options.pop("client_id", None)
        args, kwargs, merged, run_at = self._call(args, kwargs, **options)
        task_id = await self.app.ainsert_task(
            self.name,
            args,
            kwargs,
            merged,
            run_at=run_at,
            client_id=client_id,
            connection=connection,
        )
        return handle_for(self.app, task_id)

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
        args, kwargs, options, when = self._call(
            args,
            kwargs,
            run_at=run_at,
            countdown=countdown,
            eta=eta,
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
        task_id = self.app.insert_task(
            self.name,
            args,
            kwargs,
            options,
            run_at=when,
            client_id=client_id,
            connection=connection,
        )
        return handle_for(self.app, task_id)

    def _call(
        self,
        args: Iterable[Any],
        kwargs: Mapping[str, Any] | None,
        *,
        run_at: datetime | None = None,
        countdown: float | None = None,
        eta: datetime | None = None,
        **changes: Any,
    ) -> tuple[list[Any], dict[str, Any], TaskOptions, datetime | None]:
        """One call's arguments (bound to the signature), options and start time, as
        apply_async and aapply_async write them."""
        options = self.options.merged(**changes)
        args, kwargs = list(args), dict(kwargs or {})
        if options.check_arguments:
            check_arguments(self.fn, self.name, args, kwargs)
        return args, kwargs, options, resolve_run_at(run_at, countdown, eta)

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

    async def aupsert(
        self, *args: Any, client_id: str, connection: Any = None, **kwargs: Any
    ) -> TaskHandle:
        """`upsert()` for `async def` code: in the transaction of an async `connection=`
        (as for `aapply_async`), else on the app's pool in a worker thread."""
        from pq.producer.upsert import aupsert_one

        if self.options.check_arguments:
            check_arguments(self.fn, self.name, args, kwargs)
        task_id = await aupsert_one(
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

    async def amap(
        self,
        items: Iterable[Any],
        *,
        run_at: datetime | None = None,
        countdown: float | None = None,
        priority: Priority | int | str | None = None,
        queue: str | None = None,
        connection: Any = None,
    ) -> list[int]:
        """`map()` for `async def` code (see `PQ.aenqueue_many`)."""
        return await self.app.aenqueue_many(
            self,
            items,
            run_at=run_at,
            countdown=countdown,
            priority=priority,
            queue=queue,
            connection=connection,
        )


_APPLY_OPTIONS = frozenset(inspect.signature(TaskFunction.apply_async).parameters) - {
    "self",
    "args",
    "kwargs",
    "connection",
}


class TaskDecorator(Protocol):
    """What `@app.task(...)` with options returns: it turns a function into a TaskFunction."""

    def __call__(self, fn: Callable[P, R], /) -> TaskFunction[P, R]: ...
