"""Checking a call's arguments against its function's signature when it is enqueued."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any


def check_arguments(fn: Callable[..., Any], name: str, args: Any, kwargs: Any) -> None:
    """Binds the call's arguments to the function's signature, as Celery does at `delay()`:
    a call the worker could only fail with TypeError is refused here, before anything is
    stored. Functions without a readable signature (some builtins) are not checked."""
    signature = _signature(fn)
    if signature is None:
        return
    _bind(signature, name, args, kwargs)


class ShapeChecker:
    """Checks the many calls of one `map()`/`enqueue_many()` against the function's signature.

    Whether a call binds depends only on its shape: how many positional arguments it has and
    which keyword names, never on the values. So each shape is bound once and later calls of
    a known shape cost a set lookup: 100k items of one shape pay for one bind, not 100k.
    """

    def __init__(self, fn: Callable[..., Any], name: str) -> None:
        self._signature = _signature(fn)
        self._name = name
        self._good: set[tuple[int, frozenset[str]]] = set()

    def check(self, args: Sequence[Any], kwargs: Mapping[str, Any]) -> None:
        if self._signature is None:
            return
        shape = (len(args), frozenset(kwargs))
        if shape in self._good:
            return
        _bind(self._signature, self._name, args, kwargs)
        self._good.add(shape)


def _bind(signature: inspect.Signature, name: str, args: Any, kwargs: Any) -> None:
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
