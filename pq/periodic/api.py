"""The periodic half of PQ's public API: declare, schedule, unschedule, pause, resume, list.

`PQ` inherits these methods; they live here so the schedule logic has one home. Which moment
a call counts as "now" is this process's clock; the tick engine (pq/periodic/ticks.py) uses the
database's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from pq.errors import ScheduleNotFoundError
from pq.models import Periodic, Priority
from pq.periodic.function import PeriodicDecorator, declare, stored_options
from pq.periodic.spec import PeriodicDefinition, ScheduleSpec, check_max_concurrent, make_spec
from pq.periodic.ticks import declared_definitions, definition_params, insert_tick, spec_of
from pq.producer.task import TaskFunction, TaskOptions
from pq.registry import task_name_of
from pq.store.db import Executor, Row

if TYPE_CHECKING:
    from pq.periodic.function import ScheduleOwner
    from pq.runtime import Runtime
    from pq.store.queries import Queries


class SchedulesMixin:
    """Periodic schedules on a PQ (mixed into `PQ`)."""

    if TYPE_CHECKING:
        queries: Queries
        runtime: Runtime

        def executor(self, connection: Any = None) -> AbstractContextManager[Executor]: ...
        def options_for(self, name: str) -> TaskOptions: ...

    @property
    def _owner(self) -> ScheduleOwner:
        # Only PQ mixes this in, and PQ is a ScheduleOwner; said once here for mypy.
        return cast("ScheduleOwner", self)

    def periodic(
        self,
        *,
        run_every: timedelta | float | None = None,
        cron: str | None = None,
        key: str = "",
        max_concurrent: int | None = 1,
        active: bool = True,
        priority: Priority | int | str = Priority.NORMAL,
        queue: str = "default",
        max_runtime: float | None = None,
        max_memory: int | None = None,
        retries: int = 0,
        args: Sequence[Any] = (),
        kwargs: dict[str, Any] | None = None,
        timezone: str | None = None,
        name: str | None = None,
    ) -> PeriodicDecorator:
        """Declares a periodic task: `@app.periodic(run_every=timedelta(minutes=5))` or
        `@app.periodic(cron="0 9 * * 1", timezone="Europe/Berlin")`. A number for
        run_every is seconds (as in Celery's beat schedule): `run_every=30` is every 30 s.

        Every mistake in the schedule raises InvalidScheduleError here, at import time.
        Stack several decorators with different `key=` to run one function on several
        schedules. Workers write the declarations to the database when they start.
        """
        spec = make_spec(run_every, cron, timezone)
        check_max_concurrent(max_concurrent)
        options = TaskOptions(
            queue=queue, max_runtime=max_runtime, max_memory=max_memory, retries=retries
        ).merged(priority=priority)

        def register(fn: Callable[..., Any]) -> Any:
            return declare(
                self._owner,
                fn,
                name=name,
                options=options,
                spec=spec,
                key=key,
                max_concurrent=max_concurrent,
                active=active,
                args=list(args),
                kwargs=dict(kwargs or {}),
            )

        return cast("PeriodicDecorator", register)

    def schedule(
        self,
        fn: Callable[..., Any],
        *args: Any,
        run_every: timedelta | float | None = None,
        cron: str | None = None,
        key: str = "",
        max_concurrent: int | None = 1,
        active: bool = True,
        priority: Priority | int | str | None = None,
        queue: str | None = None,
        timezone: str | None = None,
        max_runtime: float | None = None,
        **kwargs: Any,
    ) -> Periodic:
        """Creates or replaces the schedule of `fn` under `key`, with these arguments.

        `active=False` pauses it and `active=True` resumes it. Calling it again with the
        same timing keeps the next run where it is. The option names above are reserved: a
        function with a parameter of the same name takes it through a `@app.periodic`
        declaration's `kwargs=` instead.
        """
        name, defaults = self._name_and_defaults(fn)
        options = defaults.merged(priority=priority, queue=queue, max_runtime=max_runtime)
        definition = PeriodicDefinition(
            name=name,
            key=key,
            spec=make_spec(run_every, cron, timezone),
            args=list(args),
            kwargs=kwargs,
            max_concurrent=max_concurrent,
            active=active,
            priority=options.priority,
            queue=options.queue,
            options=stored_options(options),
        )
        now = datetime.now(UTC)
        params = definition_params(self.runtime, definition, now)
        with self.executor() as ex:
            existing = self.queries.periodic_get(ex, name, key)
            params["resume_run"] = (
                definition.spec.advance(existing["next_run"], now)
                if existing is not None
                else params["first_run"]
            )
            return Periodic.model_validate(self.queries.periodic_upsert(ex, params))

    def unschedule(self, fn_or_name: Callable[..., Any] | str, key: str = "") -> bool:
        """Deletes the schedule of `fn_or_name` under `key` only; False if there was none.

        Tasks it already enqueued stay. A schedule declared in code with @app.periodic is
        written again by the next worker that starts: remove the declaration to end it.
        """
        with self.executor() as ex:
            return self.queries.periodic_delete(ex, self._schedule_name(fn_or_name), key)

    def pause_schedule(self, fn_or_name: Callable[..., Any] | str, key: str = "") -> Periodic:
        """Stops a schedule from enqueuing ticks; its row (and a restart) keeps the pause."""
        return self._set_active(fn_or_name, key, active=False)

    def resume_schedule(self, fn_or_name: Callable[..., Any] | str, key: str = "") -> Periodic:
        """Lets a paused schedule tick again; ticks missed while paused are dropped."""
        return self._set_active(fn_or_name, key, active=True)

    def get_schedule(self, fn_or_name: Callable[..., Any] | str, key: str = "") -> Periodic | None:
        with self.executor() as ex:
            row = self.queries.periodic_get(ex, self._schedule_name(fn_or_name), key)
        return Periodic.model_validate(row) if row else None

    def list_schedules(self) -> list[Periodic]:
        """Every schedule in the database, by name and key (orphaned ones included)."""
        with self.executor() as ex:
            rows = self.queries.periodic_list(ex)
        return [Periodic.model_validate(r) for r in rows]

    def run_schedule_now(self, fn_or_name: Callable[..., Any] | str, key: str = "") -> int:
        """Enqueues one run of a schedule right now; returns the task id.

        It is an explicit request, so overlap control does not apply and the schedule's
        next run does not move.
        """
        with self.executor() as ex:
            row = self._existing_row(ex, self._schedule_name(fn_or_name), key)
            return insert_tick(self.runtime, ex, row, run_at=None)

    # -- helpers -----------------------------------------------------------------------------
    def _set_active(
        self, fn_or_name: Callable[..., Any] | str, key: str, *, active: bool
    ) -> Periodic:
        name = self._schedule_name(fn_or_name)
        now = datetime.now(UTC)
        with self.executor() as ex:
            row = self._existing_row(ex, name, key)
            resume_run = spec_of(row).advance(row["next_run"], now)
            updated = self.queries.periodic_set_active(
                ex, name, key, active=active, resume_run=resume_run
            )
        if updated is None:  # deleted between the two statements
            raise ScheduleNotFoundError(f"schedule {name} (key {key!r}) was just removed")
        return Periodic.model_validate(updated)

    def _existing_row(self, ex: Executor, name: str, key: str) -> Row:
        """The schedule's row; a declaration no worker has written yet is written first."""
        row = self.queries.periodic_get(ex, name, key)
        if row is not None:
            return row
        for definition in declared_definitions(self.runtime):
            if (definition.name, definition.key) == (name, key):
                params = definition_params(self.runtime, definition, datetime.now(UTC))
                return self.queries.periodic_declare(ex, params)
        raise ScheduleNotFoundError(
            f"no schedule {name} with key {key!r}; `pq periodic list APP` shows the schedules "
            "there are (keys included)"
        )

    def _name_and_defaults(self, fn: Callable[..., Any]) -> tuple[str, TaskOptions]:
        if isinstance(fn, TaskFunction):
            return fn.name, fn.options
        name = task_name_of(fn)
        return name, self.options_for(name)

    def _schedule_name(self, fn_or_name: Callable[..., Any] | str) -> str:
        """A function, a full task name, or a function's short name when only one matches."""
        if not isinstance(fn_or_name, str):
            return self._name_and_defaults(fn_or_name)[0]
        if ":" in fn_or_name:
            return fn_or_name
        known = {d.name for d in declared_definitions(self.runtime)}
        with self.executor() as ex:
            known.update(str(r["name"]) for r in self.queries.periodic_list(ex))
        short = fn_or_name
        matches = sorted(
            n for n in known if n.split(":", 1)[-1] in (short,) or n.endswith(f".{short}")
        )
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise ScheduleNotFoundError(
                f"no schedule named {short!r}; give the full task name 'module:function'"
            )
        raise ScheduleNotFoundError(
            f"{short!r} matches several schedules ({', '.join(matches)}); give the full name"
        )


def schedule_table(schedules: Sequence[Periodic]) -> str:
    """The schedules as an aligned text table (for `pq periodic list`); times in UTC."""
    header = ["NAME", "KEY", "SCHEDULE", "NEXT RUN (UTC)", "LAST RUN (UTC)", "ACTIVE"]
    lines = [header]
    for p in schedules:
        spec = ScheduleSpec(every_seconds=p.every_seconds, cron=p.cron, timezone=p.timezone)
        state = "yes" if p.active else "paused"
        state = "orphaned" if p.orphaned_at is not None else state
        lines.append(
            [p.name, p.key or "-", spec.describe(), _when(p.next_run), _when(p.last_run), state]
        )
    widths = [max(len(row[i]) for row in lines) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in lines
    )


def _when(moment: datetime | None) -> str:
    return "-" if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
