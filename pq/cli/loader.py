"""Finds the PQ object (and hook functions) that the command line names."""

from __future__ import annotations

import importlib
import os
import sys
import traceback
from collections.abc import Callable
from typing import Any

from pq.app import PQ
from pq.errors import ConfigurationError


def _import_module(module_name: str, what: str) -> Any:
    # Like `python -m`, look in the current directory first, so `pq worker myapp:app` finds
    # ./myapp.py without any PYTHONPATH setup.
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise ConfigurationError(
                f"{what}: no module named {module_name!r} (run pq from the directory that "
                "contains it, or add that directory to PYTHONPATH)"
            ) from exc
        raise ConfigurationError(_import_failure(module_name, exc)) from exc
    except Exception as exc:
        # The user's own module failed (a missing setting, a syntax error): one line naming
        # the module, the error and where it happened, not pages of importlib frames.
        raise ConfigurationError(_import_failure(module_name, exc)) from exc


def _import_failure(module_name: str, exc: BaseException) -> str:
    """'importing X failed: Error: text (file:line)', the line being in the app's module
    when the failure passed through it, else the deepest frame of real source."""
    where = ""
    if isinstance(exc, SyntaxError) and exc.filename:
        where = f" ({exc.filename}:{exc.lineno})"
    else:
        frames = [
            f
            for f in traceback.extract_tb(exc.__traceback__)
            if not f.filename.startswith("<") and "importlib" not in f.filename
        ]
        own = module_name.replace(".", os.sep)
        mine = [f for f in frames if own in f.filename]
        chosen = (mine or frames)[-1:] if frames else []
        if chosen:
            where = f" ({chosen[0].filename}:{chosen[0].lineno})"
    return f"importing {module_name!r} failed: {type(exc).__name__}: {exc}{where}"


def _attribute(module: Any, path: str, what: str) -> Any:
    target = module
    for part in path.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise ConfigurationError(
                f"{what}: module {module.__name__!r} has no attribute {path!r}"
            ) from None
    return target


def load_app(spec: str) -> PQ:
    """`module:attr` names the PQ object; a bare `module` must hold exactly one."""
    module_name, _, attr = spec.partition(":")
    if not module_name:
        raise ConfigurationError(f"APP {spec!r} is not of the form 'module' or 'module:attr'")
    module = _import_module(module_name, f"APP {spec!r}")
    if attr:
        found = _attribute(module, attr, f"APP {spec!r}")
        if not isinstance(found, PQ):
            raise ConfigurationError(f"APP {spec!r} is a {type(found).__name__}, not a PQ instance")
        return found
    apps = {name: v for name, v in vars(module).items() if isinstance(v, PQ)}
    if len(apps) == 1:
        return next(iter(apps.values()))
    if not apps:
        raise ConfigurationError(
            f"module {module_name!r} defines no PQ instance; name it as module:attr"
        )
    names = ", ".join(f"{module_name}:{n}" for n in sorted(apps))
    raise ConfigurationError(
        f"module {module_name!r} has several PQ instances: choose one of {names}"
    )


def load_callable(spec: str, what: str) -> Callable[..., Any]:
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ConfigurationError(f"{what} {spec!r} is not of the form 'module:function'")
    found = _attribute(_import_module(module_name, f"{what} {spec!r}"), attr, f"{what} {spec!r}")
    if not callable(found):
        raise ConfigurationError(f"{what} {spec!r} is not callable")
    return found  # type: ignore[no-any-return]
