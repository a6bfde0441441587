"""Signing the content of a row that decides what runs: name, args, kwargs and options.

With a `secret_key`, a producer signs (HMAC-SHA256) that content and stores the signature in
the row's options under `SIGNATURE`; a worker runs a row, and the scheduler ticks a schedule,
only when the signature matches. Whoever can write rows with plain SQL but does not hold the
key can then run nothing, not even a registered task with arguments of their choosing.

The signature is computed over a canonical text of the JSON values, not over the text sent
to Postgres: `jsonb` reorders keys and rewrites numbers (`1e300` comes back as an integer of
301 digits, `-0.0` as `0.0`), so the worker recomputes it from what it reads back. Numbers
are written as normalised decimals, so every spelling of one value signs alike, while a
string and a number never do.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from pq.errors import SerializationError

SIGNATURE = "signature"  # the key in a row's options
# In a signed workflow template (pq.canvas): the row's first argument is the previous step's
# result, put there by the database when the link is written, so the signature covers the
# arguments after it. The marker is itself signed: it cannot be added to a row without the key.
PREPENDED = "prepended"


def _number(value: int | float) -> str:
    decimal = Decimal(value if isinstance(value, int) else repr(value)).normalize()
    return "0" if decimal.is_zero() else str(decimal)


def canonical(value: Any) -> str:
    """One text per JSON value (as json.loads gives it back): sorted keys, decimal numbers."""
    parts: list[str] = []
    stack: list[Any] = [value]
    # Iterative, so a hostile 100,000-deep document cannot exhaust the stack here.
    while stack:
        item = stack.pop()
        if isinstance(item, _Token):
            parts.append(item.text)
        elif item is None or isinstance(item, bool):
            parts.append(json.dumps(item))
        elif isinstance(item, int | float):
            parts.append(_number(item))
        elif isinstance(item, str):
            parts.append(json.dumps(item, ensure_ascii=True))
        else:
            _push_container(item, stack)
    return "".join(parts)


def _push_container(item: Any, stack: list[Any]) -> None:
    """Pushes a list or dict as tokens and elements, in reverse (the stack pops the end)."""
    if isinstance(item, list | tuple):
        stack.append(_Token("]"))
        for i, element in enumerate(reversed(item)):
            stack.append(element)
            if i < len(item) - 1:
                stack.append(_Token(","))
        stack.append(_Token("["))
    elif isinstance(item, Mapping):
        stack.append(_Token("}"))
        keys = sorted(item, reverse=True)
        for i, key in enumerate(keys):
            stack.append(item[key])
            stack.append(_Token(json.dumps(str(key), ensure_ascii=True) + ":"))
            if i < len(keys) - 1:
                stack.append(_Token(","))
        stack.append(_Token("{"))
    else:
        raise SerializationError(f"cannot sign a value of type {type(item).__name__}")


class _Token:
    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


def row_signature(key: str, name: str, args: Any, kwargs: Any, options: Mapping[str, Any]) -> str:
    """The HMAC of a row's content; `options` without its own signature."""
    unsigned = {k: v for k, v in options.items() if k != SIGNATURE}
    text = canonical([name, args, kwargs, unsigned])
    return hmac.new(key.encode(), text.encode(), hashlib.sha256).hexdigest()


def sign_options(
    key: str | None, name: str, args: Any, kwargs: Any, options: Mapping[str, Any]
) -> dict[str, Any]:
    """`options` with the row's signature added (unchanged without a key)."""
    signed = {k: v for k, v in options.items() if k != SIGNATURE}
    if key is not None:
        signed[SIGNATURE] = row_signature(key, name, args, kwargs, signed)
    return signed


def verify_row(
    key: str | None, name: str, args: Any, kwargs: Any, options: Mapping[str, Any]
) -> None:
    """Raises SerializationError unless the row carries a valid signature (no key: no check)."""
    if key is None:
        return
    if isinstance(options, Mapping) and options.get(PREPENDED) and isinstance(args, list):
        args = args[1:]  # the parent's result (see PREPENDED)
    stored = options.get(SIGNATURE) if isinstance(options, Mapping) else None
    if not isinstance(stored, str) or not hmac.compare_digest(
        stored, row_signature(key, name, args, kwargs, options)
    ):
        raise SerializationError(
            f"task {name!r}: the row is unsigned or its signature does not match secret_key "
            "(its name, arguments or options were written or changed without the key): "
            "refusing to run it"
        )
