"""What a canvas writes when it starts (no database): flat chains, groups and chords keep the
rows and flows they had before nesting, and nested ones are numbered depth-first with every
barrier planned up front (the `flow` format is described in pq/producer/plan.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pq import PQ, ConfigurationError, chain, chord, group
from pq.canvas import _Numbering
from pq.producer.plan import Barrier, encode, plan
from pq.producer.shape import Leaf, Par, Seq
from taskmods import flowapp


@pytest.fixture
def app() -> Any:
    return PQ("postgresql://nobody@127.0.0.1:1/never")  # never connected to


def _plan(canvas: Any) -> tuple[list[dict[str, Any]], list[Barrier]]:
    barriers: list[Barrier]
    entries, barriers = plan(_Numbering().shape(canvas))
    for n, barrier in enumerate(barriers):
        barrier.id = 100 + n
    return json.loads(json.dumps(entries, default=encode)), barriers


def _names(templates: list[dict[str, Any]]) -> list[tuple[str, int]]:
    return [(t["name"].rpartition(":")[2], t["step"]) for t in templates]


def test_a_flat_chain_writes_its_first_step_with_the_rest_in_next(app: PQ) -> None:
    add, mul = app.task(flowapp.add), app.task(flowapp.mul)
    (first,), barriers = _plan(chain(add.s(1, 2), mul.s(10), add.s(5)))
    assert (first["step"], first["args"], barriers) == (0, [1, 2], [])
    assert list(first["flow"]) == ["next"]
    assert _names(first["flow"]["next"]) == [("mul", 1), ("add", 2)]
    assert not any("flow" in t for t in first["flow"]["next"])  # they inherit it by link


def test_a_flat_group_and_chord_number_their_members_as_before(app: PQ) -> None:
    add, total = app.task(flowapp.add), app.task(flowapp.total)
    members, barriers = _plan(group(add.s(i, i) for i in range(3)))
    assert [(m["step"], m["flow"]) for m in members] == [(0, None), (1, None), (2, None)]
    assert barriers == []
    members, (barrier,) = _plan(chord([add.s(1, 1), add.s(2, 2)], chain(total.s(), add.s(1))))
    assert [m["flow"] for m in members] == [
        {"chord": 100, "member": 0},
        {"chord": 100, "member": 1},
    ]
    assert barrier.total == 2
    assert _names([barrier.callback]) == [("total", 2)]
    assert _names(barrier.callback["flow"]["next"]) == [("add", 3)]


def test_a_group_inside_a_chain_becomes_a_barrier_whose_callback_is_the_next_step(
    app: PQ,
) -> None:
    add, mul, total = (app.task(f) for f in (flowapp.add, flowapp.mul, flowapp.total))
    (first,), (barrier,) = _plan(chain(add.s(1, 2), group(mul.s(10), add.s(5)), total.s()))
    (spec,) = first["flow"]["next"]
    assert _names(spec["group"]) == [("mul", 1), ("add", 2)]
    assert [m["flow"] for m in spec["group"]] == [
        {"chord": 100, "member": 0},
        {"chord": 100, "member": 1},
    ]
    assert _names([barrier.callback]) == [("total", 3)] and barrier.callback["flow"] is None


def test_a_chain_member_of_a_chord_carries_its_barrier_to_its_last_step(app: PQ) -> None:
    add, mul, total = (app.task(f) for f in (flowapp.add, flowapp.mul, flowapp.total))
    members, _ = _plan(chord([chain(add.s(1, 1), mul.s(10)), add.s(2, 2)], total.s()))
    assert _names(members) == [("add", 0), ("add", 2)]
    assert members[0]["flow"]["chord"] == 100 and members[0]["flow"]["member"] == 0
    assert _names(members[0]["flow"]["next"]) == [("mul", 1)]


def test_canvases_are_numbered_depth_first_and_groups_in_groups_flattened(app: PQ) -> None:
    add = app.task(flowapp.add)
    shape = _Numbering().shape(
        group(chain(add.s(1), add.s(2)), group(add.s(3), add.s(4)), chord([add.s(5)], add.s()))
    )
    assert shape == Par(
        (
            Seq((Leaf(0), Leaf(1))),
            Leaf(2),
            Leaf(3),
            Seq((Par((Leaf(4),)), Leaf(5))),
        )
    )


def test_a_chain_ending_in_a_group_cannot_hand_its_list_to_a_barrier(app: PQ) -> None:
    add, total = app.task(flowapp.add), app.task(flowapp.total)
    with pytest.raises(ConfigurationError, match="End that chain with a task"):
        _plan(chord([chain(add.s(1), group(add.s(2), add.s(3)))], total.s()))
    with pytest.raises(ConfigurationError, match="End that chain with a task"):
        _plan(chord([chord([add.s(1)], group(add.s(2), add.s(3)))], total.s()))
