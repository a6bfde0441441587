"""Tasks of the workflow and flow-control tests (chain, group, chord, rate limits, keys).

Side effects go to a file named in the arguments, one line per run, so a test can count how
often each step really ran (also across killed workers). PQ() takes PQ_DATABASE_URL in the
`pq worker` subprocesses; in-process tests enqueue through their own app with these names.
"""

from __future__ import annotations

import time
from pathlib import Path

from pq import PQ


def _mark(path: str, text: str) -> None:
    with Path(path).open("a") as f:  # one short append: atomic on Linux
        f.write(text + "\n")


def add(x: int, y: int) -> int:
    return x + y


def mul(x: int, y: int) -> int:
    return x * y


def total(values: list[int]) -> int:
    return sum(values)


def boom(x: int) -> int:
    raise ValueError(f"boom on {x}")


def until_fixed(value: int, fixed: str) -> int:
    """Fails until the file `fixed` exists (an operator's fix), then passes its value on."""
    if not Path(fixed).exists():
        raise ValueError(f"not fixed yet: {fixed}")
    return value


def constant(value: int) -> int:
    return value


def step(previous: list[str] | None, name: str, path: str) -> list[str]:
    """A chain step that leaves a trace and returns the names so far."""
    _mark(path, name)
    return [*(previous or []), name]


def gated_step(previous: list[str], name: str, path: str, gate: str) -> list[str]:
    """Marks that it started, waits for the gate file, then leaves its trace."""
    _mark(path, f"{name}-started")
    while not Path(gate).exists():
        time.sleep(0.02)
    _mark(path, name)
    return [*previous, name]


def joined(parts: list[list[str]], path: str) -> list[str]:
    """A chord callback that leaves a trace and joins its members' lists."""
    _mark(path, "joined")
    return [name for part in parts for name in part]


def member(i: int, path: str) -> int:
    _mark(path, f"member {i}")
    return i * i


def slow_member(i: int, path: str, seconds: float) -> int:
    time.sleep(seconds)
    _mark(path, f"member {i}")
    return i


def collect(results: list[int], path: str) -> int:
    _mark(path, "callback")
    return sum(results)


def nap(seconds: float) -> None:
    time.sleep(seconds)


def noop() -> None:
    return None


# `pq worker taskmods.flowapp:app` (PQ() reads PQ_DATABASE_URL); tests register the same
# functions on their own app, so the names match.
app = PQ()
RETRIED = {"retries": 2, "backoff": 0}
for _fn in (add, mul, total, boom, until_fixed, constant, step, joined, collect, nap, noop):
    app.task(_fn)
for _fn in (gated_step, member, slow_member):
    app.task(_fn, **RETRIED)  # type: ignore[arg-type]
