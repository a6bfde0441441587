"""Signatures and the canvas: chain, group, chord (Celery's names and shapes).

    add.s(1, 2)                     a task call to make later (`.si()`: ignores the parent's result)
    chain(add.s(1, 2), mul.s(10))   each step gets the previous step's result as first argument
    group(add.s(i, i) for i in r)   all at once (one COPY); .results() in order
    chord(group(...), total.s())    the callback gets the list of results once all members end

They nest as in Celery: a group in a chain (gathered like a chord when a step follows it),
chains as group or chord members, a chain, group or chord as a chord's callback.

Nothing here runs SQL: a canvas numbers its signatures (pq/producer/shape.py), plans the rows
and the barriers they need (pq/producer/plan.py: arguments encoded now, so a bad argument fails
the call before anything is written) and hands them to pq/producer/workflow.py, which writes
the first rows. The links that follow are written by the worker in the statement that records
each step's end (pq/store/sql/flow_finish.sql).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from pq.errors import ConfigurationError
from pq.producer.shape import Leaf, Par, Seq, Shape, leaves
from pq.producer.start import astart_canvas, start_canvas
from pq.producer.task import TaskFunction, resolve_run_at
from pq.producer.workflow import ChainHandle, ChordHandle, GroupHandle
from pq.signing import PREPENDED

if TYPE_CHECKING:
    from pq.producer.facade import Producer
    from pq.producer.task import TaskHandle

__all__ = [
    "ChainHandle",
    "ChordHandle",
    "GroupHandle",
    "Signature",
    "chain",
    "chord",
    "group",
    "signature",
]

# The apply_async options a signature may carry (those that make sense for a row written later)
_OPTIONS = frozenset(
    {
        "countdown",
        "priority",
        "queue",
        "max_runtime",
        "retries",
        "retry_on",
        "backoff",
        "max_memory",
        "max_cpu",
        "rate_limit",
        "concurrency_key",
        "max_concurrency_per_key",
    }
)


class Signature:
    """One task call to make later: `task.s(*args, **kwargs)`, or `.si()` (immutable: the
    previous step's result is not prepended to its arguments)."""

    def __init__(
        self,
        task: TaskFunction[..., Any],
        args: Iterable[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        *,
        immutable: bool = False,
        options: Mapping[str, Any] | None = None,
    ) -> None:
        if not isinstance(task, TaskFunction):
            raise ConfigurationError(
                f"a signature needs a task registered with @app.task, not {task!r}"
            )
        unknown = set(options or {}) - _OPTIONS
        if unknown:
            raise ConfigurationError(
                f"unknown signature option(s) {', '.join(sorted(unknown))}; "
                f"use {', '.join(sorted(_OPTIONS))}"
            )
        self.task = task
        self.args = tuple(args)
        self.kwargs = dict(kwargs or {})
        self.immutable = immutable
        self.options = dict(options or {})

    @property
    def app(self) -> Producer:
        return self.task.app

    @property
    def name(self) -> str:
        return self.task.name

    def __repr__(self) -> str:
        parts = [repr(a) for a in self.args] + [f"{k}={v!r}" for k, v in self.kwargs.items()]
        call = f"{self.name.rpartition(':')[2]}.{'si' if self.immutable else 's'}"
        text = f"{call}({', '.join(parts)})"
        if self.options:
            text += ".set(" + ", ".join(f"{k}={v!r}" for k, v in self.options.items()) + ")"
        return text

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Signature) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(repr(self))

    def _key(self) -> tuple[Any, ...]:
        return (self.name, self.args, self.kwargs, self.immutable, self.options)

    def __or__(self, other: Signature | chain | group | chord) -> chain:
        return chain(self, other)

    def first_run_at(self) -> Any:
        """When this call's row is due if it is written when its canvas starts."""
        return resolve_run_at(None, self.options.get("countdown"))

    def set(self, **options: Any) -> Signature:
        """A copy with these apply_async options (countdown, priority, queue, retries ...)."""
        return Signature(
            self.task,
            self.args,
            self.kwargs,
            immutable=self.immutable,
            options={**self.options, **options},
        )

    def clone(self, args: Iterable[Any] = (), kwargs: Mapping[str, Any] | None = None) -> Signature:
        """A copy with `args` put before its own and `kwargs` merged over its own (partials)."""
        return Signature(
            self.task,
            (*args, *self.args),
            {**self.kwargs, **(kwargs or {})},
            immutable=self.immutable,
            options=self.options,
        )

    def delay(self, *args: Any, **kwargs: Any) -> TaskHandle:
        """Enqueues this one call now (extra `args` go first, as in Celery's partials)."""
        return self.apply_async(args, kwargs)

    def apply_async(
        self,
        args: Iterable[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> TaskHandle:
        """Enqueues this call alone, like `task.apply_async` with the signature's options."""
        sig = self.clone(args, kwargs)
        return sig.task.apply_async(sig.args, sig.kwargs, **{**sig.options, **options})

    def _signed_options(
        self, row_options: dict[str, Any], args_json: str, kwargs_json: str, linked: bool
    ) -> dict[str, Any]:
        if linked and not self.immutable:
            row_options[PREPENDED] = True
        return self.app.codec.signed_options(self.name, args_json, kwargs_json, row_options)

    def template(self, *, linked: bool = False) -> dict[str, Any]:
        """The row this signature writes, as the JSON object flow_finish.sql reads. `linked`:
        written by a link, after the previous step, whose result goes first in the arguments
        (unless immutable); with a secret_key the signature then covers the rest."""
        options = self.task.options.merged(
            **{k: v for k, v in self.options.items() if k != "countdown"}
        )
        args_json, kwargs_json = self.app.codec.encode_arguments(self.args, self.kwargs)
        countdown = self.options.get("countdown")
        if countdown is not None and countdown < 0:
            raise ConfigurationError(f"countdown={countdown}: it must be 0 or more seconds")
        return {
            "name": self.name,
            "queue": options.queue,
            "priority": options.priority,
            "args": json.loads(args_json),
            "kwargs": json.loads(kwargs_json),
            "options": self._signed_options(options.row_options(), args_json, kwargs_json, linked),
            "max_attempts": options.retries + 1,
            "countdown": countdown,
            "immutable": self.immutable,
            **options.flow_columns(self.name),
        }


def signature(task: TaskFunction[..., Any], *args: Any, **kwargs: Any) -> Signature:
    """`signature(add, 1, 2)` is `add.s(1, 2)`."""
    return Signature(task, args, kwargs)


def _parts(items: Iterable[Any], what: str) -> list[Signature | chain | group | chord]:
    parts = list(items)
    for part in parts:
        if not isinstance(part, Signature | chain | group | chord):
            raise ConfigurationError(
                f"{what} takes signatures such as add.s(1, 2) and canvases (chain, group, "
                f"chord), not {part!r}"
            )
    return parts


class _Numbering:
    """Gives every signature of a canvas its step number, depth-first (docs/workflows.md:
    a flat chain, group or chord numbers its rows as it always did)."""

    def __init__(self) -> None:
        self.steps = 0

    def shape(self, part: Signature | chain | group | chord) -> Shape:
        if isinstance(part, Signature):
            self.steps += 1
            return Leaf(self.steps - 1, part)
        if isinstance(part, chain):
            return Seq(tuple(self._flat(Seq, [self.shape(s) for s in part.steps])))
        if isinstance(part, group):
            if not part.members:
                raise ConfigurationError("a group needs at least one member")
            # Celery flattens a group inside a group: its members become the outer's
            return Par(tuple(self._flat(Par, [self.shape(m) for m in part.members])))
        if part.body is None:
            raise ConfigurationError("a chord needs a callback: chord(members, callback.s())")
        if not part.header.members:
            raise ConfigurationError("a chord needs at least one member")
        header = self.shape(part.header)
        return Seq(tuple(self._flat(Seq, [header, self.shape(part.body)])))

    @staticmethod
    def _flat(kind: type[Seq] | type[Par], shapes: list[Shape]) -> list[Shape]:
        flat: list[Shape] = []
        for shape in shapes:
            flat.extend(shape.parts if isinstance(shape, kind) else [shape])
        return flat


def _shape(canvas: chain | group | chord) -> tuple[Any, Shape]:
    shape = _Numbering().shape(canvas)
    return leaves(shape)[0].call.app, shape


def _start(canvas: chain | group | chord, connection: Any) -> tuple[Any, int, list[int], Shape]:
    app, shape = _shape(canvas)
    workflow_id, ids = start_canvas(app, shape, connection=connection)
    return app, workflow_id, ids, shape


async def _astart(
    canvas: chain | group | chord, connection: Any
) -> tuple[Any, int, list[int], Shape]:
    app, shape = _shape(canvas)
    workflow_id, ids = await astart_canvas(app, shape, connection=connection)
    return app, workflow_id, ids, shape


class chain:
    """Steps run one after another; each gets the previous step's value as its first argument
    (unless made with `.si()`). A step may be a group (its members get the previous value,
    and the list of their values goes to the step after it, as in a chord) or a chord. A step
    that fails for good fails the chain: the steps after it never run, and the handle's
    result() raises naming it."""

    def __init__(self, *steps: Signature | chain | group | chord) -> None:
        flat: list[Any] = []
        for step in steps:
            flat.extend(step.steps if isinstance(step, chain) else [step])
        self.steps: list[Signature | chain | group | chord] = _parts(flat, "chain")
        if not self.steps:
            raise ConfigurationError("a chain needs at least one step")

    def __repr__(self) -> str:
        return " | ".join(repr(s) for s in self.steps)

    def __or__(self, other: Signature | chain | group | chord) -> chain:
        return chain(self, other)

    def delay(self) -> ChainHandle:
        return self.apply_async()

    def apply_async(self, *, connection: Any = None) -> ChainHandle:
        """Writes the first step (the rest ride in its row and follow as each step ends)."""
        app, workflow_id, _, shape = _start(self, connection)
        assert isinstance(shape, Seq)
        return ChainHandle(app, workflow_id, shape)

    async def adelay(self) -> ChainHandle:
        return await self.aapply_async()

    async def aapply_async(self, *, connection: Any = None) -> ChainHandle:
        """apply_async for `async def` code: `connection=` takes an async connection (as
        task.aapply_async does) and the start commits with its transaction; without one the
        start runs on the app's pool in a worker thread."""
        app, workflow_id, _, shape = await _astart(self, connection)
        assert isinstance(shape, Seq)
        return ChainHandle(app, workflow_id, shape)


class group:
    """Members run independently (in parallel on as many workers as there are); their first
    rows are written in one COPY. A member may be a chain (its value is its last step's) or a
    chord; a group inside a group is flattened, as in Celery. The handle's results() gives
    the members' values in member order."""

    def __init__(self, *members: Signature | chain | group | chord | Iterable[Any]) -> None:
        flat: list[Any] = []
        for member in members:
            canvas = isinstance(member, Signature | chain | group | chord)
            flat.extend([member] if canvas else member)  # type: ignore[arg-type]
        self.members: list[Signature | chain | group | chord] = _parts(flat, "group")

    def __repr__(self) -> str:
        return f"group([{', '.join(repr(m) for m in self.members)}])"

    def __len__(self) -> int:
        return len(self.members)

    def __or__(self, other: Signature | chain | group | chord) -> chain:
        return chain(self, other)

    def delay(self) -> GroupHandle:
        return self.apply_async()

    def apply_async(self, *, connection: Any = None) -> GroupHandle:
        app, workflow_id, ids, shape = _start(self, connection)
        return GroupHandle(app, workflow_id, ids, shape)

    async def adelay(self) -> GroupHandle:
        return await self.aapply_async()

    async def aapply_async(self, *, connection: Any = None) -> GroupHandle:
        """apply_async for `async def` code (see chain.aapply_async)."""
        app, workflow_id, ids, shape = await _astart(self, connection)
        return GroupHandle(app, workflow_id, ids, shape)


class chord:
    """A group and a callback: the callback runs once, with the list of the members' values
    (in member order) as its first argument, when the last member completes. Members may be
    chains or chords; the callback may be a chain, a group or a chord. If a member fails for
    good the callback never runs and the chord's result() raises naming it."""

    def __init__(
        self,
        header: group | Iterable[Signature | chain | group | chord],
        body: Signature | chain | group | chord | None = None,
    ) -> None:
        self.header = header if isinstance(header, group) else group(header)
        if body is not None:
            _parts([body], "a chord's callback")
        self.body = body

    def __repr__(self) -> str:
        return f"chord({self.header!r}, {self.body!r})"

    def __call__(self, body: Signature | chain | group | chord) -> ChordHandle:
        """Celery's `chord(header)(callback)`: sets the callback and starts the chord."""
        return chord(self.header, body).apply_async()

    def __or__(self, other: Signature | chain | group | chord) -> chain:
        return chain(self, other)

    def delay(self) -> ChordHandle:
        return self.apply_async()

    def apply_async(self, *, connection: Any = None) -> ChordHandle:
        if self.body is None:
            raise ConfigurationError("a chord needs a callback: chord(members, callback.s())")
        app, workflow_id, ids, shape = _start(self, connection)
        return ChordHandle(app, workflow_id, ids, shape)

    async def adelay(self) -> ChordHandle:
        return await self.aapply_async()

    async def aapply_async(self, *, connection: Any = None) -> ChordHandle:
        """apply_async for `async def` code (see chain.aapply_async)."""
        if self.body is None:
            raise ConfigurationError("a chord needs a callback: chord(members, callback.s())")
        app, workflow_id, ids, shape = await _astart(self, connection)
        return ChordHandle(app, workflow_id, ids, shape)
