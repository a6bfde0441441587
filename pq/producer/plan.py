"""From a canvas's shape to the rows a start writes and the specs its links follow.

A row's `flow` (pq_tasks.flow) says what its completion writes, in flow_finish.sql, in the
statement that records it:

- `next`: the rest of its chain. Each element is a step's template (written with this row's
  result first in its arguments; it inherits the rest of the list and this row's `chord` and
  `member`), or, last in the list, a *group spec* `{"group": [...]}`: one row per member, each
  member a template with its own complete `flow`.
- `chord` and `member`: the barrier (a pq_chords row) that gathers this row's value under key
  `member`, once its chain has no `next` left. The completion that makes a barrier's set
  whole writes the barrier's callback: a template (its `flow` complete) or a group spec, with
  the list of values first in its arguments.

- `cancelled` (alone): the workflow was cancelled (flow_cancel.sql); the row links nothing.

So a group followed by anything becomes a barrier whose callback is what follows (Celery
upgrades it to a chord the same way), and every barrier a canvas may need is created when it
starts, in the transaction that writes its first rows: no link ever creates one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pq.errors import ConfigurationError
from pq.producer.shape import Leaf, Par, Seq, Shape

# The one nesting pq refuses: a value that would be a list handed on as one member's value.
HANDS_ON_A_LIST = (
    "a chain that ends in a group (or a chord whose callback is a group) cannot be a member "
    "of a chord's header or of a group followed by another step: its value would be a list "
    "gathered as one member's value, which pq does not do. End that chain with a task that "
    "takes the list, e.g. chain(a.s(), group(b.s(), c.s()), collect.s())"
)


class Barrier:
    """A pq_chords row the canvas needs: `total` values gather there and the completion that
    makes the set whole writes `callback`. Its id is reserved only after planning, so the
    flows hold this object and `encode` writes its id."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.callback: dict[str, Any] = {}
        self.id = 0


def encode(value: Any) -> Any:
    """json.dumps' `default`: a barrier is written as its id."""
    if isinstance(value, Barrier):
        return value.id
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _template(leaf: Leaf, linked: bool) -> dict[str, Any]:
    return {**leaf.call.template(linked=linked), "step": leaf.step}


class Planner:
    """Walks a shape once; `barriers` are the pq_chords rows its flows refer to, outermost
    first (the first is given the workflow id, as a chord's always had)."""

    def __init__(self) -> None:
        self.barriers: list[Barrier] = []

    def entries(self, shape: Shape, cont: dict[str, Any], *, linked: bool) -> list[dict[str, Any]]:
        """The rows that start `shape`: templates with their `step` and whole `flow`. `cont`
        is where shape's value goes: {} (only the handle reads it) or its barrier and key.
        `linked`: written by a link, with the previous value first in the arguments."""
        if isinstance(shape, Leaf):
            return [{**_template(shape, linked), "flow": cont or None}]
        if isinstance(shape, Par):
            return self.members(shape, (), cont, linked=linked)
        head, rest = shape.parts[0], shape.parts[1:]
        if isinstance(head, Par):
            return self.members(head, rest, cont, linked=linked)
        if not isinstance(head, Leaf):
            raise TypeError(f"a chain inside a chain is flattened first: {shape!r}")
        return [{**_template(head, linked), "flow": self.flow(rest, cont)}]

    def flow(self, rest: Sequence[Shape], cont: dict[str, Any]) -> dict[str, Any] | None:
        """The flow of a row whose chain goes on with `rest`: its plain steps in `next`, ended
        by a group spec if a group comes (what follows the group is its barrier's callback,
        which then also carries `cont`)."""
        following: list[dict[str, Any]] = []
        for n, part in enumerate(rest):
            if isinstance(part, Leaf):
                following.append(_template(part, True))
                continue
            if not isinstance(part, Par):
                raise TypeError(f"a chain inside a chain is flattened first: {part!r}")
            following.append(self.fan_out(part, rest[n + 1 :], cont, linked=True))
            cont = {}
            break
        flow = dict(cont)
        if following:
            flow["next"] = following
        return flow or None

    def fan_out(
        self, group: Par, rest: Sequence[Shape], cont: dict[str, Any], *, linked: bool
    ) -> dict[str, Any]:
        """A group spec: what a link writes to start a group."""
        return {"group": self.members(group, rest, cont, linked=linked)}

    def members(
        self, group: Par, rest: Sequence[Shape], cont: dict[str, Any], *, linked: bool
    ) -> list[dict[str, Any]]:
        """The first rows of a group's members. Followed by `rest`, the group is gathered by
        a barrier whose callback starts `rest` with the list of the members' values."""
        conts: list[dict[str, Any]]
        if rest:
            barrier = Barrier(len(group.parts))
            self.barriers.append(barrier)
            barrier.callback = self.link(rest, cont)
            conts = [{"chord": barrier, "member": n} for n in range(len(group.parts))]
        elif cont:
            raise ConfigurationError(HANDS_ON_A_LIST)
        else:
            conts = [{} for _ in group.parts]
        return [
            row
            for part, member_cont in zip(group.parts, conts, strict=True)
            for row in self.entries(part, member_cont, linked=linked)
        ]

    def link(self, rest: Sequence[Shape], cont: dict[str, Any]) -> dict[str, Any]:
        """What a barrier's callback writes: the first row of `rest` (or its group's rows)."""
        head = rest[0]
        if isinstance(head, Par):
            return self.fan_out(head, rest[1:], cont, linked=True)
        if not isinstance(head, Leaf):
            raise TypeError(f"a chain inside a chain is flattened first: {head!r}")
        return {**_template(head, True), "flow": self.flow(rest[1:], cont)}


def plan(shape: Shape) -> tuple[list[dict[str, Any]], list[Barrier]]:
    """The rows a canvas writes when it starts, and the barriers their flows refer to."""
    planner = Planner()
    return planner.entries(shape, {}, linked=False), planner.barriers


__all__ = ["HANDS_ON_A_LIST", "Barrier", "Leaf", "Par", "Planner", "Seq", "encode", "plan"]
