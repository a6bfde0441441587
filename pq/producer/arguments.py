"""Checking a call's arguments against its function's signature when it is enqueued."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any


def check_arguments(fn: Callable[..., Any], name: str, args: Any, kwargs: Any) -> None:
    """Binds the call's arguments to the function's signature, as Celery does at `delay()`:
    a call the worker could only fail with TypeError is refused here, before anything is
    stored. Functions without a readable signature (some builtins) are not checked."""
    signature = _signature(fn)
    if signature is None:
        return
    try:
        signature.bind(*args, **kwargs)
    except TypeError as exc:
        plain = signature.replace(
            parameters=[p.replace(annotation=p.empty) for p in signature.parameters.values()],
            return_annotation=signature.empty,
        )
        raise TypeError(
            f"{name}{plain}: {exc} (checked when enqueued; pass check_arguments=False "
            "to the task decorator to store the call unchecked)"
        ) from None


@functools.lru_cache(maxsize=4096)
def _cached_signature(fn: Callable[..., Any]) -> inspect.Signature | None:
    try:
        return inspect.signature(fn)
    except (TypeError, ValueError):
        return None


def _signature(fn: Callable[..., Any]) -> inspect.Signature | None:
    """`fn`'s signature, read once per function rather than at every enqueue."""
    try:
        return _cached_signature(fn)
    except TypeError:  # an unhashable callable: no cache
        return _cached_signature.__wrapped__(fn)
