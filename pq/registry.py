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


def default_include(app_module: str | None) -> tuple[str, ...]:
    """What a worker may import when the app sets no `include`: the top-level package of
    the module that created the app (`myapp` for an app made in `myapp/queue.py`)."""
    if not app_module:
        return ()
    if app_module == "__main__":
        spec = getattr(sys.modules.get("__main__"), "__spec__", None)
        if spec is not None and spec.name:  # python -m myapp.queue
            app_module = str(spec.name)
    return (app_module.partition(".")[0],)


def _within(module: str, packages: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


class Registry(dict[str, "TaskFunction[Any, Any]"]):
    """The tasks an app declares (`@app.task`, `@app.periodic`), by name.

    It is also the one place that turns a name read from a row into a function, so the rule of
    what a worker may run lives here and nowhere else: a registered task, or a function
    defined in a module the app includes. A row is written by whoever can INSERT into the
    table; without this rule `os:system` or `builtins:exec` would run with the row's arguments.
    """

    def __init__(self, include: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.include = include

    def resolve(self, name: str) -> Callable[..., Any]:
        """The plain function behind a task name: registered first, else imported from an
        included module. Anything else raises UnknownTaskError naming the `include` setting,
        before its module is imported (importing a module runs its code)."""
        from pq.producer.task import TaskFunction

        registered = self.get(name)
        if registered is not None:
            return registered.fn
        module_name, _, qualname = name.partition(":")
        if not _within(module_name, self.include):
            raise UnknownTaskError(self._refusal(name, f"module {module_name!r} is not included"))
        if any(part.startswith("__") for part in qualname.split(".")):
            raise UnknownTaskError(self._refusal(name, "it names a dunder attribute"))
        found = import_by_name(name)
        fn = found.fn if isinstance(found, TaskFunction) else found
        # The walk may have left the module (`myapp.jobs:os.system` when jobs imports os):
        # the function itself must be defined in an included module under that very name.
        defined_in = getattr(fn, "__module__", None) or ""
        if not _within(defined_in, self.include) or getattr(fn, "__qualname__", None) != qualname:
            raise UnknownTaskError(
                self._refusal(name, f"it is {defined_in or '?'}:{getattr(fn, '__qualname__', '?')}")
            )
        return fn

    def _refusal(self, name: str, why: str) -> str:
        return (
            f"task {name!r} is not allowed to run: it is not registered on this app "
            f"(@app.task or @app.periodic) and {why}; the app includes "
            f"{list(self.include)} (set PQ(include=[...]) or PQ_INCLUDE to the modules or "
            "packages whose functions workers may run)"
        )

    def options_for(self, name: str) -> TaskOptions:
        """The declared defaults of a task name (plain defaults for a function not declared)."""
        from pq.producer.task import TaskOptions

        registered = self.get(name)
        return registered.options if registered is not None else TaskOptions()
