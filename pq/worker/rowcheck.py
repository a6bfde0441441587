"""Checking a claimed row before forking for it, so a broken or hostile row fails alone.

The parent reads a row's options to supervise its child (deadline, limits) and its JSON was
decoded on the parent's connection; a value of the wrong type there would raise inside the
loop and take every running task down with the worker. Whatever is wrong is found here and
fails that task with a message saying what, before anything runs.
"""

from __future__ import annotations

import math
from typing import Any

from pq.models import OutcomeKind
from pq.retry import backoff_seconds
from pq.serialization import Undecodable

_NUMBER_OPTIONS = ("max_runtime", "max_cpu", "max_memory")


def row_problem(row: dict[str, Any]) -> str | None:
    """What makes this row impossible to run, or None."""
    for column, wanted in (("args", list), ("kwargs", dict), ("options", dict)):
        value = row.get(column)
        if isinstance(value, Undecodable):
            return f"its {column} cannot be decoded: {value.reason}"
        if not isinstance(value, wanted):
            return f"its {column} must be a JSON {_json_type(wanted)}, not {_json_name(value)}"
    options: dict[str, Any] = row["options"]
    for name in _NUMBER_OPTIONS:
        value = options.get(name)
        if value is None:
            continue
        integral = name == "max_memory"
        if not _positive_number(value, integral=integral):
            unit = "a number of bytes" if integral else "a number of seconds"
            return f"options.{name} must be {unit} greater than 0, not {value!r}"
    return _retry_problem(options)


def _retry_problem(options: dict[str, Any]) -> str | None:
    retry_on = options.get("retry_on")
    try:
        if retry_on is not None:
            if not isinstance(retry_on, list):
                raise TypeError(f"it must be an array of outcome names, not {retry_on!r}")
            for kind in retry_on:
                OutcomeKind(kind)
        backoff_seconds(1, options)
    except (TypeError, ValueError) as exc:
        known = ", ".join(k.value for k in OutcomeKind)
        return f"its retry options are invalid ({exc}); retry_on takes: {known}"
    return None


def _positive_number(value: Any, *, integral: bool) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    if integral and not isinstance(value, int):
        return False
    return math.isfinite(value) and value > 0


def _json_type(python_type: type) -> str:
    return "array" if python_type is list else "object"


def _json_name(value: Any) -> str:
    for python_type, name in ((bool, "boolean"), (list, "array"), (dict, "object")):
        if isinstance(value, python_type):
            return name
    if isinstance(value, int | float):
        return "number"
    return "string" if isinstance(value, str) else "null"
