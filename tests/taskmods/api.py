"""Task functions and hooks for the task-API tests (issue 3): results, models, async, hooks,
gates for races. Importable, so forked children and `pq worker` subprocesses find them."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from pq import PQ


class User(BaseModel):
    name: str
    age: int


def describe_user(user: User) -> str:
    """Proves the worker rebuilt the model: a dict has no .name attribute."""
    return f"{type(user).__name__}:{user.name}:{user.age}"


def describe_users(*users: User, **named: User) -> int:
    """Variadic parameters annotated with a model get what was stored (dicts)."""
    return len(users) + len(named)


def make_user(name: str) -> User:
    return User(name=name, age=7)


def echo(value: Any) -> Any:
    return value


def type_name(value: Any) -> str:
    return type(value).__name__


def returns_set() -> set[int]:
    return {1, 2}


async def async_add(a: int, b: int) -> int:
    await asyncio.sleep(0)
    return a + b


def append(path: str, text: str) -> None:
    with Path(path).open("a") as f:
        f.write(text + "\n")


def gated(path: str, text: str, gate: str) -> str:
    """Appends 'start <text>', waits for the gate file, appends 'end <text>'."""
    append(path, f"start {text}")
    deadline = time.monotonic() + 60
    while not Path(gate).exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    append(path, f"end {text}")
    return text


def announce_then_sleep(path: str, seconds: float) -> None:
    append(path, "running")
    time.sleep(seconds)


# -- hooks: they write to the file named by PQ_TEST_HOOK_LOG (the child inherits the env) ----
def _hook_log(text: str) -> None:
    append(os.environ["PQ_TEST_HOOK_LOG"], text)


def pre_hook(task: Any) -> None:
    _hook_log(f"pre {task.id} pid={os.getpid()}")


def post_hook(task: Any, error: BaseException | None) -> None:
    _hook_log(f"post {task.id} error={type(error).__name__ if error else None}")


async def async_pre_hook(task: Any) -> None:
    await asyncio.sleep(0)
    _hook_log(f"async pre {task.id}")


async def async_post_hook(task: Any, error: BaseException | None) -> None:
    await asyncio.sleep(0)
    _hook_log(f"async post {task.id}")


def failing_pre_hook(task: Any) -> None:
    raise RuntimeError("pre hook exploded")


def failing_post_hook(task: Any, error: BaseException | None) -> None:
    raise RuntimeError("post hook exploded")


# An app for `pq worker` subprocesses: its URL comes from PQ_DATABASE_URL.
app = PQ()  # resolved lazily: PQ_DATABASE_URL is read on first use, in the subprocess
