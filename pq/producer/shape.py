"""The shape of a started canvas, and what its rows say about it.

A canvas is numbered depth-first when it starts: every task it may ever write gets a fixed
`workflow_step` in its workflow, so a handle can tell from the rows alone which part of the
canvas each row is. A shape is a tree of those numbers: `Leaf` (one task), `Seq` (a chain:
its value is its last part's, and a failed part stops it) and `Par` (a group: the list of its
parts' values, in order; it has ended when every part has).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pq.models import Task, TaskStatus

BROKEN = {TaskStatus.FAILED, TaskStatus.CANCELLED}


@dataclass(frozen=True)
class Leaf:
    step: int
    call: Any = field(default=None, compare=False, repr=False)  # its signature, at start


@dataclass(frozen=True)
class Seq:
    parts: tuple[Shape, ...]


@dataclass(frozen=True)
class Par:
    parts: tuple[Shape, ...]


Shape = Leaf | Seq | Par


def leaves(shape: Shape) -> list[Leaf]:
    if isinstance(shape, Leaf):
        return [shape]
    return [leaf for part in shape.parts for leaf in leaves(part)]


def describe(task: Task) -> str:
    reason = (task.error or "").strip().splitlines()[-1:] or [task.outcome or task.status]
    return f"task {task.id} ({task.name}) {task.status.value}: {reason[0]}"


@dataclass
class State:
    """Where a shape stands: open (waiting on a row, or on a link not written yet), failed
    (the broken rows and why), or done."""

    open: bool = False
    waiting: int | None = None  # a row of it that has not ended
    failed: list[Task] = field(default_factory=list)
    reason: str = ""
    at: int = 0  # a chain: the part (1-based) that failed
    of: int = 0  # a chain: how many parts it has

    def explained(self) -> str:
        """The reason, with the failed step's place when the failure is inside a chain."""
        return f"step {self.at} of {self.of}: {self.reason}" if self.at else self.reason


def evaluate(shape: Shape, rows: dict[int, Task]) -> State:
    """The state of `shape` given the workflow's rows by step."""
    if isinstance(shape, Leaf):
        return _task(rows.get(shape.step))
    if isinstance(shape, Seq):
        return _chain(shape, rows)
    return _group(shape, rows)


def _task(row: Task | None) -> State:
    if row is None:  # its link is written with the end of the part before it
        return State(open=True)
    if row.status in BROKEN:
        return State(failed=[row], reason=describe(row))
    if row.status is TaskStatus.COMPLETED:
        return State()
    return State(open=True, waiting=row.id)


def _chain(shape: Seq, rows: dict[int, Task]) -> State:
    for n, part in enumerate(shape.parts, 1):
        state = evaluate(part, rows)
        if state.open:
            return state
        if state.failed:  # the parts after it are never written
            return State(failed=state.failed, reason=state.reason, at=n, of=len(shape.parts))
    return State()


def _group(shape: Par, rows: dict[int, Task]) -> State:
    states = [evaluate(part, rows) for part in shape.parts]
    opened = [s for s in states if s.open]
    if opened:  # a failed member does not end a group: the others run on
        return State(open=True, waiting=next((s.waiting for s in opened if s.waiting), None))
    broken = [(n, s) for n, s in enumerate(states) if s.failed]
    if broken:
        return State(
            failed=[t for _, s in broken for t in s.failed],
            reason=f"{len(broken)} of {len(states)} member(s) failed: "
            + "; ".join(f"member {n}: {s.explained()}" for n, s in broken),
        )
    return State()


def value(shape: Shape, rows: dict[int, Task], decode: Callable[[Task], Any]) -> Any:
    """The value of a shape that is done: a task's result, a chain's last part's value, a
    group's list of its parts' values."""
    if isinstance(shape, Leaf):
        return decode(rows[shape.step])
    if isinstance(shape, Seq):
        return value(shape.parts[-1], rows, decode)
    return [value(part, rows, decode) for part in shape.parts]
