"""Recording a large result without copying it in the worker parent.

A task's child sends a large result as JSON text already (see pq/worker/child.py). Decoding it
in the parent, encoding the batch again as one JSON parameter and handing that to libpq held
about four copies of it at once. Instead the parent keeps the child's bytes (`RawJson`) and,
for a batch that holds one, streams the batch's JSON document into a temporary table with
binary COPY in 1 MiB pieces, the raw results spliced in as they are, then runs the same
finish statement reading its rows from that table: the parent holds the result once, plus a
piece in flight. Small results take the usual one-parameter path.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator, Mapping
from typing import Any

import psycopg
from psycopg.rows import dict_row

Row = dict[str, Any]

_PIECE = 2**20
_COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0)
_COPY_TRAILER = struct.pack("!h", -1)
# Dropped at the end of the transaction that made it: nothing stays in the session, which
# may be a pooler's (a transaction-mode PgBouncer keeps one server session per transaction).
_STAGE = "CREATE TEMP TABLE pq_staged_rows (doc text) ON COMMIT DROP"
_COPY = "COPY pq_staged_rows (doc) FROM STDIN (FORMAT binary)"
_ROWS_PARAM = "%(rows)s::jsonb"
_ROWS_STAGED = "(SELECT doc::jsonb FROM pq_staged_rows)"


class RawJson:
    """A JSON document kept as the bytes that encode it (a child's result), never decoded."""

    __slots__ = ("data",)

    def __init__(self, data: memoryview) -> None:
        self.data = data

    def __len__(self) -> int:
        return len(self.data)


def has_raw(records: list[dict[str, Any]]) -> bool:
    return any(isinstance(r.get("result"), RawJson) for r in records)


def _pieces(records: list[dict[str, Any]]) -> Iterator[bytes | memoryview]:
    """The JSON array of the records, in pieces; a raw result is one piece, as it came."""
    yield b"["
    for n, record in enumerate(records):
        if n:
            yield b","
        result = record.get("result")
        if not isinstance(result, RawJson):
            yield json.dumps(record, default=str).encode()
            continue
        rest = json.dumps({k: v for k, v in record.items() if k != "result"}, default=str)
        yield rest[:-1].encode() + b', "result": '  # the object, reopened for its result
        yield result.data
        yield b"}"
    yield b"]"


def finish_staged(
    conn: psycopg.Connection[Any], statement: str, params: Mapping[str, Any]
) -> list[Row]:
    """Runs a finish statement (task_finish, flow_finish) whose rows parameter holds raw
    results, streaming the rows through COPY instead of sending them as a parameter."""
    if _ROWS_PARAM not in statement:
        raise ValueError("not a finish statement: its rows parameter is missing")
    pieces = list(_pieces(params["rows"]))
    size = sum(len(p) for p in pieces)
    rest = {k: v for k, v in params.items() if k != "rows"}
    with conn.transaction():
        conn.execute(_STAGE)
        with conn.cursor() as cur, cur.copy(_COPY) as copy:
            copy.write(_COPY_SIGNATURE + struct.pack("!hi", 1, size))
            for piece in pieces:
                view = memoryview(piece)
                for at in range(0, len(view), _PIECE):
                    copy.write(view[at : at + _PIECE])
            copy.write(_COPY_TRAILER)
        with conn.cursor(row_factory=dict_row) as cur:
            cur.execute(statement.replace(_ROWS_PARAM, _ROWS_STAGED), rest)
            return cur.fetchall()
