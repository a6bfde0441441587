"""What every `pq` subcommand module shares: the APP argument, one-line errors, logging,
and the `--json` output of the operator commands."""

from __future__ import annotations

import enum
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Annotated, Any

import typer
from pydantic import BaseModel

from pq.errors import PQError
from pq.telemetry import logs

AppArg = Annotated[
    str, typer.Argument(metavar="APP", help="The app: 'module:attr', or 'module' holding one PQ.")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts instead.")]
YesOption = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]


@contextmanager
def clear_errors() -> Iterator[None]:
    """Known failures are one line on stderr and exit status 1, never a traceback."""
    try:
        yield
    except PQError as exc:
        typer.echo(f"pq: error: {exc}", err=True)
        raise typer.Exit(1) from None


def configure_logging(level: str, log_format: str = "text") -> None:
    logs.configure(level, log_format)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, BaseModel):
        return value.model_dump()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return repr(value)  # a decoded result of any type: shown, never a crash


def print_json(value: Any) -> None:
    """One JSON document on stdout (models dumped with their computed fields)."""
    if isinstance(value, list):
        value = [v.model_dump() if isinstance(v, BaseModel) else v for v in value]
    elif isinstance(value, BaseModel):
        value = value.model_dump()
    typer.echo(json.dumps(value, default=_plain, indent=2))


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> timedelta:
    """'90s', '15m', '1h', '2d', '1h30m' (a bare number is seconds)."""
    raw = text.strip().lower()
    if raw.replace(".", "", 1).isdigit():
        return timedelta(seconds=float(raw))
    total, number = 0.0, ""
    for char in raw:
        if char.isdigit() or char == ".":
            number += char
        elif char in _UNITS and number:
            total += float(number) * _UNITS[char]
            number = ""
        else:
            number = "bad"
            break
    if number:
        raise typer.BadParameter(f"{text!r} is not a duration: use e.g. 90s, 15m, 1h, 2d, 1h30m")
    return timedelta(seconds=total)
