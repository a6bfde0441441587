"""Handing a claimed row to a child that is already forked and waiting on a pipe.

A spare child (`pq worker --spares N`) and a reused child (`tasks_per_child`) block on their
handoff pipe; the parent writes them one message per task: a 4-byte length, then JSON of the
row and the limits the child applies before the task's code runs. Datetimes travel as ISO
strings (the child reads the row as it would read one decoded from the database: pydantic
parses them back for the hooks' Task). EOF (the parent closed its end, or died) means: exit.
"""

from __future__ import annotations

import json
import os
import struct
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pq.worker.limits import Limits

_LENGTH = struct.Struct("!I")


@dataclass
class Spare:
    """A forked child waiting for its row, as the parent tracks it."""

    pid: int
    handoff_fd: int  # the parent's write end of the child's handoff pipe
    read_fd: int  # the parent's read end of the child's report pipe
    born: float  # time.monotonic() when forked (or when it last became idle)
    reuse: int = 1  # 1: a spare for one task; N: a reused child of tasks_per_child=N


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def frame(body: bytes) -> bytes:
    return _LENGTH.pack(len(body)) + body


def unframe(data: bytes | bytearray) -> tuple[bytes, int] | None:
    """The first complete message in `data` and the bytes it took, or None if incomplete."""
    if len(data) < _LENGTH.size:
        return None
    end = _LENGTH.size + _LENGTH.unpack_from(data)[0]
    return (bytes(data[_LENGTH.size : end]), end) if len(data) >= end else None


def encode(row: dict[str, Any], limits: Limits) -> bytes:
    body = json.dumps(
        {"row": row, "max_memory": limits.max_memory, "max_cpu": limits.max_cpu},
        default=_plain,
    ).encode()
    return frame(body)


def send(fd: int, message: bytes) -> None:
    """Parent side: writes one message (blocking: the child reads as it arrives). Raises
    OSError (BrokenPipeError) when the child is gone."""
    view = memoryview(message)
    while view:
        view = view[os.write(fd, view) :]


def _read_exactly(fd: int, size: int) -> bytes | None:
    chunks = bytearray()
    while len(chunks) < size:
        chunk = os.read(fd, size - len(chunks))
        if not chunk:
            return None
        chunks += chunk
    return bytes(chunks)


def receive(fd: int) -> tuple[dict[str, Any], Limits] | None:
    """Child side: blocks for the next row; None when the parent closed the pipe."""
    header = _read_exactly(fd, _LENGTH.size)
    if header is None:
        return None
    body = _read_exactly(fd, _LENGTH.unpack(header)[0])
    if body is None:
        return None
    message = json.loads(body)
    return message["row"], Limits(message["max_memory"], message["max_cpu"])
