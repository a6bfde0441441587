"""What `@app.periodic(...)` returns: a task that also carries its schedule declarations."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ParamSpec, Protocol, TypeVar

from pq.errors import InvalidScheduleError
from pq.models import Periodic, Priority
from pq.periodic.spec import PeriodicDefinition, ScheduleSpec
from pq.producer.task import TaskFunction, TaskOptions
from pq.registry import task_name_of

if TYPE_CHECKING:
    from pq.registry import Registry

from pq.producer.facade import Producer

P = ParamSpec("P")
R = TypeVar("R")


def stored_options(options: TaskOptions) -> dict[str, Any]:
    """The task options a schedule row keeps for its ticks (max_runtime, retries ...)."""
    stored = options.row_options()
    if options.retries:
        stored["retries"] = options.retries
    return stored


class ScheduleOwner(Producer, Protocol):
    """What a periodic function uses of its app: the producer calls and the schedule calls
    (`PQ` satisfies it; see pq.producer.facade for why it is not the whole app)."""

    registry: Registry

    def schedule(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Periodic: ...
    def unschedule(self, fn_or_name: Callable[..., Any] | str, key: str = "") -> bool: ...
    def pause_schedule(self, fn_or_name: Callable[..., Any] | str, key: str = "") -> Periodic: ...
    def resume_schedule(self, fn_or_name: Callable[..., Any] | str, key: str = "") -> Periodic: ...
    def run_schedule_now(self, fn_or_name: Callable[..., Any] | str, key: str = "") -> int: ...
    def get_schedule(
        self, fn_or_name: Callable[..., Any] | str, key: str = ""
    ) -> Periodic | None: ...


class PeriodicFunction(TaskFunction[P, R]):
    """A task with one or more schedules (one per key). Calling it runs it inline.

    `.schedule()`, `.unschedule()`, `.pause()` and `.resume()` change its schedule rows at
    runtime; the declarations themselves are written by each worker when it starts.
    """

    def __init__(
        self, app: ScheduleOwner, fn: Callable[P, R], name: str, options: TaskOptions
    ) -> None:
        super().__init__(app, fn, name, options)
        self.owner = app
        self.declarations: dict[str, PeriodicDefinition] = {}

    def __repr__(self) -> str:
        keys = ", ".join(repr(k) for k in self.declarations)
        return f"<PeriodicFunction {self.name} keys=[{keys}]>"

    def schedule(
        self,
        *args: Any,
        run_every: timedelta | float | None = None,
        cron: str | None = None,
        key: str = "",
        max_concurrent: int | None = 1,
        active: bool = True,
        priority: Priority | int | str | None = None,
        timezone: str | None = None,
        **kwargs: Any,
    ) -> Periodic:
        """Creates or replaces the schedule under `key` (see `PQ.schedule`)."""
        return self.owner.schedule(
            self,
            *args,
            run_every=run_every,
            cron=cron,
            key=key,
            max_concurrent=max_concurrent,
            active=active,
            priority=priority,
            timezone=timezone,
            **kwargs,
        )

    def unschedule(self, key: str = "") -> bool:
        """Deletes the schedule under `key`; a declaration in code writes it again when the
        next worker starts (pause it instead to stop it for good at runtime)."""
        return self.owner.unschedule(self, key=key)

    def pause(self, key: str = "") -> Periodic:
        return self.owner.pause_schedule(self, key=key)

    def resume(self, key: str = "") -> Periodic:
        return self.owner.resume_schedule(self, key=key)

    def run_now(self, key: str = "") -> int:
        """Enqueues one run of the schedule now, outside its timing; returns the task id."""
        return self.owner.run_schedule_now(self, key=key)

    def get_schedule(self, key: str = "") -> Periodic | None:
        return self.owner.get_schedule(self, key=key)


class PeriodicDecorator(Protocol):
    """What `@app.periodic(...)` returns: it turns a function into a PeriodicFunction."""

    def __call__(self, fn: Callable[P, R], /) -> PeriodicFunction[P, R]: ...


def declare(
    app: ScheduleOwner,
    fn: Callable[..., Any],
    *,
    name: str | None,
    options: TaskOptions,
    spec: ScheduleSpec,
    key: str,
    max_concurrent: int | None,
    active: bool,
    args: list[Any],
    kwargs: dict[str, Any],
) -> PeriodicFunction[Any, Any]:
    """Registers `fn` (or adds a key to an already periodic function) with one schedule."""
    app.codec.encode_arguments(args, kwargs)  # unstorable arguments fail here, not at a tick
    if isinstance(fn, PeriodicFunction):
        periodic: PeriodicFunction[Any, Any] = fn  # a second @app.periodic with another key
    else:
        periodic = PeriodicFunction(app, fn, name or task_name_of(fn), options)
    if key in periodic.declarations:
        raise InvalidScheduleError(
            f"{periodic.name} already declares a schedule with key={key!r}; give each "
            "schedule of one function its own key"
        )
    periodic.declarations[key] = PeriodicDefinition(
        name=periodic.name,
        key=key,
        spec=spec,
        args=args,
        kwargs=kwargs,
        max_concurrent=max_concurrent,
        active=active,
        priority=options.priority,
        queue=options.queue,
        options=stored_options(options),
    )
    app.registry[periodic.name] = periodic
    return periodic
