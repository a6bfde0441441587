"""Task names: how a function becomes `module:qualname`, how a name becomes a function, and
the registry of an app's declared tasks (which also decides what a worker may run)."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pq.errors import TaskDefinitionError, UnknownTaskError

if TYPE_CHECKING:
    from pq.producer.task import TaskFunction, TaskOptions


def module_name_of(fn: Callable[..., Any]) -> str:
    """The importable module of `fn`, seeing through `python -m pkg.mod` running as __main__."""
    module = getattr(fn, "__module__", None)
    if not module:
        raise TaskDefinitionError(
            f"{fn!r} has no __module__: only module-level functions can be tasks"
        )
    if module == "__main__":
        spec = getattr(sys.modules["__main__"], "__spec__", None)
        if spec is not None and spec.name:
            return str(spec.name)
    return str(module)


def task_name_of(fn: Callable[..., Any]) -> str:
    """`module:qualname`, refusing what a worker could never import again."""
    qualname = getattr(fn, "__qualname__", None)
    if not qualname:
        raise TaskDefinitionError(f"{fn!r} has no __qualname__: pass a plain function")
    if "<lambda>" in qualname:
        raise TaskDefinitionError(
            f"a lambda ({qualname}) cannot be a task: a worker must import the function by "
            "name, so define it with `def` at module level"
        )
    if "<locals>" in qualname:
        raise TaskDefinitionError(
            f"{qualname} is defined inside another function: a worker cannot import it; "
            "move it to module level"
        )
    return f"{module_name_of(fn)}:{qualname}"


def import_by_name(name: str) -> Callable[..., Any]:
    """Imports `module:qualname`, with a clear error naming what is missing."""
    module_name, sep, qualname = name.partition(":")
    if not sep or not module_name or not qualname:
        raise UnknownTaskError(f"task name {name!r} is not of the form 'module:function'")
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as exc:
        hint = (
            " (tasks defined in a script's __main__ are only known to a worker started from "
            "that script; move them to an importable module)"
            if module_name == "__main__"
            else ""
        )
        raise UnknownTaskError(
            f"task {name!r}: module {module_name!r} cannot be imported ({exc}){hint}"
        ) from exc
    for part in qualname.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise UnknownTaskError(
                f"task {name!r}: {module_name!r} has no attribute {qualname!r}; was it renamed "
                "or removed? Deploy the code that defines it, or cancel these tasks"
            ) from None
    if not callable(target):
        raise UnknownTaskError(f"task {name!r} names {type(target).__name__}, not a function")
    return target  # type: ignore[no-any-return]


class Registry(dict[str, "TaskFunction[Any, Any]"]):
    """The tasks an app declares (`@app.task`, `@app.periodic`), by name.

    It is also the one place that turns a name read from a row into a function, so the rule of
    what a worker may run lives here and nowhere else.
    """

    def resolve(self, name: str) -> Callable[..., Any]:
        """The plain function behind a task name: registered first, else imported."""
        from pq.producer.task import TaskFunction

        registered = self.get(name)
        if registered is not None:
            return registered.fn
        found = import_by_name(name)
        return found.fn if isinstance(found, TaskFunction) else found

    def options_for(self, name: str) -> TaskOptions:
        """The declared defaults of a task name (plain defaults for a function not declared)."""
        from pq.producer.task import TaskOptions

        registered = self.get(name)
        return registered.options if registered is not None else TaskOptions()
