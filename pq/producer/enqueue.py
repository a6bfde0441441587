"""The writing half of PQ's public API: enqueue, upsert, enqueue_many, cancel. `PQ` inherits
these methods; every single enqueue path ends in `insert_task`, the one place a test
interceptor (pq.testing) takes over."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pq.errors import (
    DuplicateClientIdError,
    SchemaOutdatedError,
    TaskDefinitionError,
    UnknownTaskError,
    WorkflowCancelStalledError,
)
from pq.models import Priority, Task
from pq.producer.arguments import ShapeChecker, check_arguments
from pq.producer.notify import NotifyGate
from pq.producer.task import TaskFunction, TaskOptions, resolve_run_at
from pq.registry import Registry, import_by_name, task_name_of
from pq.store.queries import NewTaskRow
from pq.telemetry import tracing

if TYPE_CHECKING:
    from pq.producer.facade import Interceptor
    from pq.serialization import Codec
    from pq.settings import Settings
    from pq.store.db import Executor
    from pq.store.queries import Queries


_GATE_LOCK = threading.Lock()


def raise_enqueue_failure(exc: Exception, schema: str, client_id: str | None) -> None:
    """Raises pq's error for a failed insert the user can act on (pq's tables missing, a
    client_id taken); returns for any other failure, which the caller re-raises."""
    # psycopg 3 and asyncpg say sqlstate, psycopg2 (a caller's connection) says pgcode.
    code = getattr(exc, "sqlstate", None) or getattr(exc, "pgcode", None)
    if code == "42P01":  # undefined_table: the same advice the worker gives
        raise SchemaOutdatedError(
            f"pq's tables are not in this database (schema {schema!r}): "
            "run `pq migrate APP` (or app.run_db_migrations()) first"
        ) from None
    if code == "23505":
        raise DuplicateClientIdError(
            f"client_id {client_id!r} is already used by another task; use upsert() to "
            "replace it, or get_task_by_client_id() to find it"
        ) from exc


class EnqueueMixin:
    """Writing task rows on a PQ (mixed into `PQ`)."""

    if TYPE_CHECKING:
        queries: Queries
        codec: Codec
        interceptor: Interceptor | None
        registry: Registry
        settings: Settings

        def executor(
            self, connection: Any = None, *, one_statement: bool = False
        ) -> AbstractContextManager[Executor]: ...
        def options_for(self, name: str) -> TaskOptions: ...
        # the reading half (ReadingMixin), which upsert and bulk also use through Producer
        def get_task(self, task_id: int) -> Task | None: ...
        def wait_for_end(self, task_id: int, deadline: float | None) -> Task | None: ...
        async def await_end(self, task_id: int, deadline: float | None) -> Task | None: ...
        # the async half (AsyncEnqueueMixin), which task functions reach through Producer
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

    def new_row(
        self,
        name: str,
        args: list[Any],
        kwargs: dict[str, Any],
        options: TaskOptions,
        *,
        run_at: datetime | None,
        client_id: str | None,
    ) -> NewTaskRow:
        """The row to write for one call: arguments encoded (a bad one fails the call here,
        before anything is written), options as stored."""
        args_json, kwargs_json = self.codec.encode_arguments(args, kwargs)
        trace = tracing.trace_context()  # the caller's W3C trace context, when it traces
        stored: dict[str, Any] | str
        if trace is None and self.codec.secret_key is None:
            stored = options.options_json  # the same text for every call with these options
        else:
            stored = options.row_options()
            if trace is not None:
                stored["trace"] = trace
            stored = self.codec.signed_options(name, args_json, kwargs_json, stored)
        return NewTaskRow(
            name=name,
            queue=options.queue,
            priority=options.priority,
            args=args_json,
            kwargs=kwargs_json,
            options=stored,
            client_id=client_id,
            run_at=run_at,
            max_attempts=options.retries + 1,
            **options.flow_columns(name),
        )

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
    ) -> int:
        """Writes one task row; every single enqueue path ends here."""
        if self.interceptor is not None:
            return self.interceptor.insert(
                name, args, kwargs, options, run_at=run_at, client_id=client_id
            )
        try:
            with tracing.enqueue_span(name, options.queue) as span:
                row = self.new_row(name, args, kwargs, options, run_at=run_at, client_id=client_id)
                # Only our own commits can be followed by a trailing notice (pq/producer/notify).
                gate = self._notify_gate() if connection is None and run_at is None else None
                notify = gate is None or gate.notify_now(row.queue)
                with self.executor(connection, one_statement=True) as ex:
                    task_id = self.queries.task_insert(ex, row, notify=notify)
                if gate is not None and not notify:
                    gate.owe(row.queue)  # committed: a notice follows at the window's end
                if span is not None:
                    span.set_attribute("pq.task.id", task_id)
                return task_id
        except Exception as exc:
            raise_enqueue_failure(exc, self.queries.schema, client_id)
            raise

    def _notify_gate(self) -> NotifyGate:
        gate: NotifyGate | None = self.__dict__.get("_pq_notify_gate")
        if gate is None:
            with _GATE_LOCK:
                gate = self.__dict__.get("_pq_notify_gate")
                if gate is None:
                    gate = NotifyGate(self.settings.notify_window, self._notify_queues)
                    self.__dict__["_pq_notify_gate"] = gate
        return gate

    def _notify_queues(self, queues: list[str]) -> None:
        with self.executor(one_statement=True) as ex:
            self.queries.task_notify_queues(ex, queues)

    def enqueue(
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
        """Enqueues any importable function (or a registered task's name) with its
        arguments, checked against its signature; returns the task id.

        The option names above are reserved: a task with a parameter of the same name takes
        it through `apply_async(kwargs=...)` instead.
        """
        name, defaults = self._name_and_defaults(fn)
        self._check_call(fn, name, defaults, args, kwargs)
        return self.insert_task(
            name,
            list(args),
            kwargs,
            defaults.merged(priority=priority, queue=queue),
            run_at=resolve_run_at(run_at, countdown),
            client_id=client_id,
            connection=connection,
        )

    def upsert(
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
        """Inserts, or replaces the task with this client_id (debounce); returns its id.

        A running task keeps running and this version runs after it (see docs/enqueueing).
        """
        from pq.producer.upsert import upsert_one

        name, defaults = self._name_and_defaults(fn)
        self._check_call(fn, name, defaults, args, kwargs)
        return upsert_one(
            self,
            name,
            list(args),
            kwargs,
            defaults.merged(priority=priority, queue=queue),
            client_id=client_id,
            run_at=resolve_run_at(run_at, countdown),
            connection=connection,
        )

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
    ) -> list[int]:
        """One task per item (tuple: positional args, dict: keyword args, else the single
        argument) in a single COPY; returns the ids in item order."""
        from pq.producer.bulk import insert_many

        name, defaults = self._name_and_defaults(fn)
        options = defaults.merged(priority=priority, queue=queue)
        when = resolve_run_at(run_at, countdown)
        checker = ShapeChecker(self._call_target(fn), name) if options.check_arguments else None
        return insert_many(
            self, name, items, options, run_at=when, connection=connection, checker=checker
        )

    def _name_and_defaults(self, fn: Callable[..., Any] | str) -> tuple[str, TaskOptions]:
        if isinstance(fn, TaskFunction):
            return fn.name, fn.options
        if isinstance(fn, str):
            return self._named(fn), self.options_for(fn)
        name = task_name_of(fn)
        return name, self.options_for(name)

    def _named(self, name: str) -> str:
        """A task given by name: registered, or an importable 'module:function'."""
        if name in self.registry:
            return name
        try:
            import_by_name(name)
        except UnknownTaskError as exc:
            known = ", ".join(sorted(self.registry)[:3]) or "none yet"
            raise TaskDefinitionError(
                f"{name!r} is not a registered task name ({exc}); pass the task function "
                f"itself, or the name of one registered with @app.task (registered: {known})"
            ) from None
        return name

    def _check_call(
        self,
        fn: Callable[..., Any] | str,
        name: str,
        options: TaskOptions,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> None:
        """Binds the arguments to the function's signature before anything is stored."""
        if options.check_arguments:
            check_arguments(self._call_target(fn), name, args, kwargs)

    def _call_target(self, fn: Callable[..., Any] | str) -> Callable[..., Any]:
        """The plain function whose signature a call of `fn` must bind to."""
        target = self.registry.resolve(fn) if isinstance(fn, str) else fn
        return target.fn if isinstance(target, TaskFunction) else target

    def cancel(self, task_id: int) -> bool:
        """Cancels a pending task (True: it will never run), or asks a running one to stop
        (True: the request is recorded; a task ending on its own first keeps its outcome,
        success included). False: it had already ended, or there is no such task."""
        with self.executor() as ex:
            return self.queries.task_cancel(ex, task_id) is not None

    def cancel_workflow(self, workflow_id: int, *, timeout: float = 30.0) -> bool:
        """Cancels every task of a chain, group or chord (`Task.workflow_id`) that has not
        finished, as cancel() does one task, and lets no later step start: a step that ends
        during or after the cancel writes no link. True if a task was stopped; False if the
        workflow had already ended (or there is no such workflow).

        Rows a worker is recording or claiming are locked for moments and taken on a later
        pass; if some stay locked for `timeout` seconds in a row (another transaction holds
        them: a session left idle in a transaction), raises WorkflowCancelStalledError
        instead of waiting on: what could be stopped is stopped."""
        stopped, pause = False, 0.0
        progress = time.monotonic()
        while True:
            # One pass per transaction: its locks (SKIP LOCKED) never make a worker recording
            # a step wait for the next pass, and each pass sees the links committed before it.
            with self.executor() as ex:
                seen, ids = self.queries.flow_cancel(ex, workflow_id)
            stopped = stopped or bool(ids)
            if seen == 0:  # nothing unstopped was running: no link can come any more
                return stopped
            if ids:
                pause, progress = 0.0, time.monotonic()
            elif time.monotonic() - progress >= timeout:
                raise WorkflowCancelStalledError(workflow_id, seen, timeout)
            else:  # every row left is locked by a worker recording or claiming it: moments
                pause = min(0.1, pause * 2 or 0.002)
                time.sleep(pause)
