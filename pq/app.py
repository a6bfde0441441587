"""PQ: the application object. Settings, the producer pool, the task registry, and every
call of the public API (enqueue, cancel, queries, migrations, running a worker)."""

from __future__ import annotations

import logging
import os
import sys
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, overload

import psycopg
from psycopg.types.json import set_json_loads
from psycopg_pool import ConnectionPool

from pq.models import OutcomeKind, Priority
from pq.ops.api import OpsMixin
from pq.periodic.api import SchedulesMixin
from pq.producer.aenqueue import AsyncEnqueueMixin
from pq.producer.enqueue import EnqueueMixin
from pq.producer.reading import ReadingMixin
from pq.producer.task import TaskDecorator, TaskFunction, TaskOptions
from pq.registry import Registry, default_include, task_name_of
from pq.retry import Backoff
from pq.runtime import Runtime
from pq.serialization import Codec, tolerant_json_loads
from pq.settings import Settings, WorkerSettings
from pq.store import embedded, pooler
from pq.store.db import (
    Executor,
    PsycopgExecutor,
    autocommitted,
    connect,
    fork_local_transaction,
    open_pool,
)
from pq.store.migrate import Migration, apply_migrations
from pq.store.queries import Queries

if TYPE_CHECKING:
    from collections.abc import Iterable

    from pq.producer.facade import Interceptor
    from pq.worker.loop import Hooks

log = logging.getLogger("pq")

P = ParamSpec("P")
R = TypeVar("R")

Hook = Callable[..., Any]

# Every live PQ, so a forked child can drop the pool it inherited (see _forget_pools).
_instances: weakref.WeakSet[PQ] = weakref.WeakSet()


def _forget_pools_in_child() -> None:
    # The pool's connections belong to the parent and its threads did not survive the fork.
    # Dropping the reference (never closing: that would end the parent's sessions). A task
    # that enqueues more tasks then uses one connection, opened on its first enqueue and
    # closed when the child exits (pq.store.db.close_fork_local): never a pool per child.
    for app in list(_instances):
        app._pool = None
        app._pool_lock = threading.Lock()
        app._forked = True


os.register_at_fork(after_in_child=_forget_pools_in_child)


def _tolerant_json(conn: psycopg.Connection[Any]) -> None:
    # A row's JSON nested too deep for Python's parser (written by plain SQL) is read as an
    # Undecodable value instead of failing the statement (Task.from_row shows it as invalid).
    set_json_loads(tolerant_json_loads, conn)
    # An enqueue or a read of a handle is one short statement: JIT compiling it (when a
    # badly estimated plan passes jit_above_cost) costs far more than it saves. A SET, not a
    # startup option, which PgBouncer refuses; the pool wants the connection idle back.
    conn.execute("SET jit = off")
    conn.commit()


def _creating_module() -> str | None:
    """The module whose code called PQ(...) (past pq's own frames and subclasses' __init__)."""
    frame = sys._getframe(1)
    while frame is not None:
        module = frame.f_globals.get("__name__")
        if module != __name__ and frame.f_code.co_name != "__init__":
            return module if isinstance(module, str) else None
        frame = frame.f_back  # type: ignore[assignment]
    return None


class PQ(EnqueueMixin, AsyncEnqueueMixin, ReadingMixin, SchedulesMixin, OpsMixin):
    """A task queue on one Postgres database (and schema)."""

    def __init__(
        self,
        database_url: str | None = None,
        *,
        schema: str | None = None,
        pool_min_size: int | None = None,
        pool_max_size: int | None = None,
        allow_pickle: bool | None = None,
        secret_key: str | None = None,
        include: Iterable[str] | None = None,
        pooled: bool | None = None,
        listen_url: str | None = None,
    ) -> None:
        """`include`: the modules or packages (besides the registered tasks) whose functions
        a worker may run; default: the top-level package of the module creating the app.
        `pooled`: a pooler (PgBouncer in transaction mode) is between us and Postgres
        (None: detected); `listen_url`: a direct URL for LISTEN behind one (docs/scaling.md)."""
        given: dict[str, Any] = {
            "pooled": pooled,
            "listen_url": listen_url,
            "database_url": database_url,
            "schema": schema,
            "pool_min_size": pool_min_size,
            "pool_max_size": pool_max_size,
            "allow_pickle": allow_pickle,
            "secret_key": secret_key,
            "include": None if include is None else tuple(include),
        }
        self.settings = Settings(**{k: v for k, v in given.items() if v is not None})
        self.queries = Queries(self.settings.schema)
        self.codec = Codec(self.settings.allow_pickle, self.settings.secret_key)
        self.registry = Registry(
            self.settings.include
            if self.settings.include is not None
            else default_include(_creating_module())
        )
        # What the worker gets of this app: never the facade, so never the producer pool.
        self.runtime = Runtime(
            self.registry,
            self.codec,
            self.queries,
            lambda: self.database_url,
            lambda: self.settings.listen_url,
        )
        self._url: str | None = None
        self._pool: ConnectionPool[Any] | None = None
        self._pool_lock = threading.Lock()
        self._forked = False  # in a forked child: one connection instead of a pool
        # Set by pq.testing (eager / capture modes): takes over every enqueue path.
        self.interceptor: Interceptor | None = None
        # Where the app is defined: the embedded database is looked for from there first
        # (see pq.store.embedded.default_root), whatever the current directory.
        caller = sys._getframe(1).f_globals.get("__file__")
        self.home = Path(caller).resolve().parent if caller else None
        _instances.add(self)

    def __repr__(self) -> str:
        return f"<PQ schema={self.settings.schema!r} tasks={len(self.registry)}>"

    # -- connections -------------------------------------------------------------------------
    @property
    def database_url(self) -> str:
        """Resolved on first use, so importing an app module never starts a database."""
        if self._url is None:
            url = embedded.resolve_database_url(self.settings.database_url, self.home)
            pooler.declare(url, self.settings.pooled)
            self._url = url
        return self._url

    def _get_pool(self) -> ConnectionPool[Any]:
        with self._pool_lock:
            if self._pool is None:
                self._pool = open_pool(
                    self.database_url,
                    min_size=self.settings.pool_min_size,
                    max_size=self.settings.pool_max_size,
                    configure=_tolerant_json,
                )
            return self._pool

    @contextmanager
    def executor(
        self, connection: Any = None, *, one_statement: bool = False
    ) -> Iterator[Executor]:
        """Our pool (committed on success) or, with `connection=`, the caller's transaction.

        one_statement: the block runs a single statement, so on our pool it runs in autocommit
        and commits in its own round trip (see pq.store.db.autocommitted)."""
        if connection is not None:
            from pq.store.db import executor_for  # callers' drivers are imported only when used

            yield executor_for(connection)
            return
        if self._forked:
            with fork_local_transaction(self.database_url) as conn:
                yield PsycopgExecutor(conn)
            return
        with self._get_pool().connection() as conn:
            if one_statement:
                with autocommitted(conn):
                    yield PsycopgExecutor(conn)
            else:
                yield PsycopgExecutor(conn)

    def connect(self) -> psycopg.Connection[Any]:
        """A new autocommit connection of this app's own (the worker holds two of these)."""
        return connect(self.database_url)

    def close(self) -> None:
        """Closes the producer pool; it reopens by itself on the next call that needs it."""
        if not self._forked:
            self._notify_gate().flush()  # a trailing notice still owed goes out first
        with self._pool_lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()
        self._done_listener().close()  # the LISTEN of result() waits, if one is open

    def run_db_migrations(self) -> list[Migration]:
        """Creates or upgrades pq's tables; safe to run from several processes at once."""
        return apply_migrations(self.database_url, self.queries)

    # -- registry ----------------------------------------------------------------------------
    @overload
    def task(self, fn: Callable[P, R], /) -> TaskFunction[P, R]: ...

    @overload
    def task(
        self,
        *,
        name: str | None = None,
        priority: Priority | int | str = Priority.NORMAL,
        queue: str = "default",
        max_runtime: float | None = None,
        max_memory: int | str | None = None,
        retries: int = 0,
        retry_on: Iterable[OutcomeKind | str] | None = None,
        backoff: Backoff | float | None = None,
        max_cpu: float | None = None,
        tasks_per_child: int | None = None,
        rate_limit: str | None = None,
        concurrency_key: str | None = None,
        max_concurrency_per_key: int | None = None,
        check_arguments: bool = True,
    ) -> TaskDecorator: ...

    def task(
        self,
        fn: Callable[..., Any] | None = None,
        *,
        name: str | None = None,
        priority: Priority | int | str = Priority.NORMAL,
        queue: str = "default",
        max_runtime: float | None = None,
        max_memory: int | str | None = None,
        retries: int = 0,
        retry_on: Iterable[OutcomeKind | str] | None = None,
        backoff: Backoff | float | None = None,
        max_cpu: float | None = None,
        tasks_per_child: int | None = None,
        rate_limit: str | None = None,
        concurrency_key: str | None = None,
        max_concurrency_per_key: int | None = None,
        check_arguments: bool = True,
    ) -> TaskFunction[Any, Any] | TaskDecorator:
        """Registers a task. `@app.task` or `@app.task(priority=..., max_runtime=...)`.

        retries: extra attempts after a failure whose kind is in retry_on (default: exception,
        timeout, lost, interrupted), each after `backoff` (see pq.Backoff). max_memory ('512MiB')
        and max_cpu (seconds) limit the child; see docs/reliability.md. rate_limit ('100/m')
        caps starts across all workers; max_concurrency_per_key caps the tasks of one
        concurrency_key (given per call) running at once; see docs/workflows.md.
        check_arguments=False stores calls without binding them to the signature first
        (Celery's typing=False). tasks_per_child=N lets one child run up to N such tasks in a
        row (faster, less isolated; docs/worker.md).
        """
        # merged() validates and normalises (sizes, outcome names, backoff numbers).
        options = TaskOptions().merged(
            priority=priority,
            queue=queue,
            max_runtime=max_runtime,
            max_memory=max_memory,
            retries=retries,
            retry_on=retry_on,
            backoff=backoff,
            max_cpu=max_cpu,
            tasks_per_child=tasks_per_child,
            rate_limit=rate_limit,
            concurrency_key=concurrency_key,
            max_concurrency_per_key=max_concurrency_per_key,
            check_arguments=check_arguments,
        )

        def register(func: Callable[..., Any]) -> TaskFunction[Any, Any]:
            task_fn = TaskFunction(self, func, name or task_name_of(func), options)
            self.registry[task_fn.name] = task_fn
            return task_fn

        return register(fn) if fn is not None else register

    def resolve(self, name: str) -> Callable[..., Any]:
        """The plain function behind a task name: registered first, else imported."""
        return self.registry.resolve(name)

    def options_for(self, name: str) -> TaskOptions:
        return self.registry.options_for(name)

    # -- workers -----------------------------------------------------------------------------
    def run_worker(
        self,
        *,
        concurrency: int | None = None,
        poll_interval: float | None = None,
        max_runtime: float | None = None,
        priorities: set[Priority | int | str] | None = None,
        queues: list[str] | None = None,
        pre_execute: Hook | None = None,
        post_execute: Hook | None = None,
        burst: bool = False,
        max_memory: int | str | None = None,
        max_cpu: float | None = None,
        drain_timeout: float | None = None,
        lease: float | None = None,
        heartbeat_interval: float | None = None,
        poll_only: bool = False,
        prefetch: int | None = None,
        spares: int | None = None,
        tasks_per_child: int | None = None,
        metrics_port: int | None = None,
        child_init: Hook | None = None,
        fork_server: bool | None = None,
    ) -> int:
        """Runs a worker in this process until it is signalled (or, with burst, runs dry).

        Options left as None take their defaults (and PQ_* environment variables) from
        pq.settings.WorkerSettings; `max_memory` takes bytes or a size such as "512MiB".
        `metrics_port` serves Prometheus metrics (the `metrics` extra; docs/operations.md);
        `child_init()` runs in each child right after the fork (set up tracing there).
        `fork_server=True` forks the children from a fork server beside the loop (Linux;
        PQ_FORK_SERVER; docs/worker.md). Returns the number of tasks it processed.
        """
        from pq.worker.loop import Hooks, build_worker_settings

        settings = build_worker_settings(
            concurrency=concurrency,
            poll_interval=poll_interval,
            max_runtime=max_runtime,
            priorities=priorities,
            queues=queues,
            burst=burst,
            max_memory=max_memory,
            max_cpu=max_cpu,
            drain_timeout=drain_timeout,
            lease=lease,
            heartbeat_interval=heartbeat_interval,
            poll_only=poll_only,
            prefetch=prefetch,
            spares=spares,
            tasks_per_child=tasks_per_child,
            metrics_port=metrics_port,
            fork_server=fork_server,
        )
        return self.run_worker_with(settings, Hooks(pre_execute, post_execute, child_init))

    def run_worker_once(
        self,
        *,
        max_runtime: float | None = None,
        priorities: set[Priority | int | str] | None = None,
        queues: list[str] | None = None,
        pre_execute: Hook | None = None,
        post_execute: Hook | None = None,
    ) -> bool:
        """Claims and runs at most one task; returns whether there was one."""
        from pq.worker.loop import Hooks, build_worker_settings

        settings = build_worker_settings(
            max_runtime=max_runtime, priorities=priorities, queues=queues, burst=True
        )
        return self.run_worker_with(settings, Hooks(pre_execute, post_execute), max_tasks=1) > 0

    def run_worker_with(
        self,
        settings: WorkerSettings,
        hooks: Hooks,
        *,
        max_tasks: int | None = None,
        upgrade_hint: str = "pq migrate APP",
    ) -> int:
        """Runs a worker with settings already built (the CLI's and run_worker's way in)."""
        from pq.worker.loop import run

        # The producer pool has threads and sockets; a lean, single-threaded parent forks
        # faster and safely. It reopens by itself if this process enqueues again later.
        self.close()
        return run(self.runtime, settings, hooks, max_tasks=max_tasks, upgrade_hint=upgrade_hint)
