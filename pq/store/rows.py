"""The rows pq writes as values: one task row for an INSERT, many as COPY text for bulk."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

COPY_CHUNK = 1000  # rows per write: few calls, small buffers


@dataclass(frozen=True)
class NewTaskRow:
    """The values of a task row to write: arguments already encoded, options as stored."""

    name: str
    queue: str
    priority: int
    args: str  # JSON text
    kwargs: str  # JSON text
    options: dict[str, Any] | str  # str: already JSON text
    client_id: str | None
    run_at: datetime | None  # None: now
    max_attempts: int
    periodic_id: int | None = None
    rate_key: str | None = None
    concurrency_key: str | None = None
    concurrency_limit: int | None = None

    def params(self, channel: str, notify: bool = True) -> dict[str, Any]:
        # A shallow copy of the fields, not dataclasses.asdict (a deep copy of every value):
        # this runs once per enqueue.
        values = dict(self.__dict__)
        if not isinstance(self.options, str):
            values["options"] = json.dumps(self.options)
        values["channel"] = channel
        values["notify"] = notify
        return values


def copy_field(text: str) -> str:
    """A text value as one field of COPY's text format (backslash escapes)."""
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _json_field(text: str) -> str:
    # JSON as json.dumps writes it holds no tab, newline or other control character (they
    # are escaped inside strings), so a backslash is the only character to escape.
    return text.replace("\\", "\\\\") if "\\" in text else text


def task_copy_text(
    ids: Sequence[int],
    rows: Iterable[tuple[str, str, str]],
    *,
    name: str,
    queue: str,
    priority: int,
    run_at: datetime,
    max_attempts: int,
) -> Iterator[str]:
    """Rows of task_copy.sql in COPY's text format, COPY_CHUNK rows per string: one per id,
    with (args, kwargs, options) JSON from `rows` (there must be as many).

    Built as text rather than row by row through the driver's row writer: every column but
    id, the arguments and options is the same for all rows, so it is escaped once, and a
    row costs one f-string."""
    head = f"\t{copy_field(name)}\t{copy_field(queue)}\t{priority}\t"
    tail = f"\t{run_at.isoformat()}\t{max_attempts}\n"
    field = _json_field
    chunk: list[str] = []
    for i, (a, k, o) in zip(ids, rows, strict=True):
        chunk.append(f"{i}{head}{field(a)}\t{field(k)}\t{field(o)}{tail}")
        if len(chunk) == COPY_CHUNK:
            yield "".join(chunk)
            chunk.clear()
    if chunk:
        yield "".join(chunk)


def copy_value(value: Any) -> str:
    """One field of COPY's text format from a Python value (psycopg 3's write_row does this
    itself; the psycopg2 and async executors stream text)."""
    if value is None:
        return "\\N"
    return copy_field(value.isoformat() if isinstance(value, datetime) else str(value))


def copy_rows_text(rows: Iterable[Sequence[Any]]) -> Iterator[str]:
    """Rows of values in COPY's text format, COPY_CHUNK rows per string."""
    chunk: list[str] = []
    for row in rows:
        chunk.append("\t".join(copy_value(v) for v in row) + "\n")
        if len(chunk) == COPY_CHUNK:
            yield "".join(chunk)
            chunk.clear()
    if chunk:
        yield "".join(chunk)
