"""How arguments and results are stored: JSON first, pydantic by annotation, dill as fallback.

Each top-level value is encoded on its own, so a row stays readable in psql even when one
argument needed pickling:

- JSON values (None, bool, int, float, str, lists and str-keyed dicts of those) are stored
  as they are. Tuples come back as lists.
- A pydantic model is stored as its JSON dump; in the worker it becomes the model again when
  the task function's parameter is annotated with that model (else the function gets a dict).
- Anything else is pickled with dill into ``{"__pq_pickle__": base64, "sig": hmac-or-null}``,
  unless the app forbids pickles. With a ``secret_key`` the pickle is signed (HMAC-SHA256)
  and only a correctly signed pickle is ever loaded.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import inspect
import json
import math
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import dill
import pydantic

from pq.errors import SerializationError
from pq.signing import sign_options, verify_row

PICKLE_MARKER = "__pq_pickle__"
_SCALARS = frozenset({str, int, bool, type(None)})
# Deepest nesting of lists and dicts pq stores: far beyond real data, and well within what
# json and Postgres parse without exhausting their stacks (a worker decodes every row).
MAX_DEPTH = 500


@dataclass(frozen=True)
class Codec:
    """The pickle policy of one app: whether pickles are allowed and how they are signed."""

    allow_pickle: bool = True
    secret_key: str | None = None

    # -- encoding ----------------------------------------------------------------------------
    def encode_value(self, value: Any, *, what: str) -> Any:
        """Returns a JSON-compatible form of `value`; `what` names it in error messages."""
        if type(value) in _SCALARS:  # the common case first: bulk enqueue encodes millions
            if type(value) is str:
                check_text(value, what)
            return value
        if isinstance(value, pydantic.BaseModel):
            dumped = value.model_dump(mode="json")
            _is_json(dumped, what)
            return dumped
        if _is_json(value, what):
            return value
        if not self.allow_pickle:
            raise SerializationError(
                f"{what} of type {type(value).__name__} is not JSON and this app has "
                "allow_pickle=False: pass JSON values or pydantic models, or allow pickles"
            )
        try:
            blob = dill.dumps(value)
        except Exception as exc:
            raise SerializationError(
                f"{what} of type {type(value).__name__} cannot be stored: it is not JSON and "
                f"dill cannot pickle it ({exc}); pass plain data instead"
            ) from exc
        return {PICKLE_MARKER: base64.b64encode(blob).decode("ascii"), "sig": self._sign(blob)}

    def encode_arguments(self, args: Sequence[Any], kwargs: Mapping[str, Any]) -> tuple[str, str]:
        """Returns (args JSON, kwargs JSON) ready for a jsonb column."""
        if all(map(_plain, args)):  # stored as they are: no per-value encoding
            args_json = _dumps(args if isinstance(args, list) else list(args))
        else:
            args_json = _dumps(
                [self.encode_value(v, what=f"argument {i}") for i, v in enumerate(args)]
            )
        if not kwargs:
            return args_json, "{}"
        encoded_kwargs = {
            k: self.encode_value(v, what=f"argument {k!r}") for k, v in kwargs.items()
        }
        return args_json, _dumps(encoded_kwargs)

    # -- decoding ----------------------------------------------------------------------------
    def decode_value(self, stored: Any) -> Any:
        """Inverse of `encode_value` (pydantic models stay dicts here; see `restore_arguments`)."""
        if not (isinstance(stored, dict) and PICKLE_MARKER in stored):
            return stored
        if not self.allow_pickle:
            raise SerializationError(
                "a pickled value was found but this app has allow_pickle=False; "
                "re-enqueue the task with JSON arguments"
            )
        try:
            blob = base64.b64decode(stored[PICKLE_MARKER])
        except (ValueError, TypeError) as exc:
            raise SerializationError(f"a pickled value is corrupt: {exc}") from exc
        if self.secret_key is not None:
            signature = stored.get("sig")
            if not isinstance(signature, str) or not hmac.compare_digest(
                signature, self._sign(blob) or ""
            ):
                raise SerializationError(
                    "a pickled value is unsigned or its signature does not match secret_key: "
                    "refusing to load it (it may have been tampered with)"
                )
        try:
            return dill.loads(blob)
        except Exception as exc:
            raise SerializationError(
                f"a pickled value no longer loads ({type(exc).__name__}: {exc}); "
                "the code it refers to may have changed"
            ) from exc

    def decode_arguments(
        self, args: Sequence[Any], kwargs: Mapping[str, Any]
    ) -> tuple[list[Any], dict[str, Any]]:
        return [self.decode_value(v) for v in args], {
            k: self.decode_value(v) for k, v in kwargs.items()
        }

    # -- rows --------------------------------------------------------------------------------
    def signed_options(
        self, name: str, args_json: str, kwargs_json: str, options: dict[str, Any]
    ) -> dict[str, Any]:
        """A row's options with the signature of its content (see pq.signing) when this app
        has a secret_key; as they are otherwise."""
        if self.secret_key is None:
            return options
        return sign_options(
            self.secret_key, name, json.loads(args_json), json.loads(kwargs_json), options
        )

    def verify_row(self, name: str, args: Any, kwargs: Any, options: Any) -> None:
        """Raises SerializationError for a row this app's secret_key did not sign."""
        verify_row(self.secret_key, name, args, kwargs, options)

    def _sign(self, blob: bytes) -> str | None:
        if self.secret_key is None:
            return None
        return hmac.new(self.secret_key.encode(), blob, hashlib.sha256).hexdigest()


_dumps = json.JSONEncoder().encode  # json.dumps with its defaults, minus its argument checks


def _plain(value: Any) -> bool:
    """A value stored as it is that needs no check: an int, bool or None, a finite float, or
    an ASCII str without NUL (anything else goes through encode_value)."""
    kind = type(value)
    if kind is str:
        return value.isascii() and "\x00" not in value
    if kind is float:
        return math.isfinite(value)
    return kind in _SCALARS


def _is_json(value: Any, what: str) -> bool:
    """True for plain JSON that Postgres can store, False for what is not JSON (a pickle then);
    raises SerializationError for JSON that jsonb would refuse (see check_text, MAX_DEPTH)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:  # iterative: a hostile depth must not exhaust the stack here
        item, depth = stack.pop()
        if isinstance(item, str | int | float) or item is None:  # bool is an int
            if not _scalar_is_json(item, what):
                return False
        elif depth > MAX_DEPTH:
            raise SerializationError(
                f"{what} is nested more than {MAX_DEPTH} levels deep: pq stores at most "
                f"{MAX_DEPTH} levels of lists and dicts; flatten it"
            )
        elif isinstance(item, list | tuple):
            stack.extend((v, depth + 1) for v in item)
        elif isinstance(item, dict):
            if PICKLE_MARKER in item or not all(isinstance(k, str) for k in item):
                return False
            for key, element in item.items():
                check_text(key, what)
                stack.append((element, depth + 1))
        else:
            return False
    return True


def _scalar_is_json(item: str | float | None, what: str) -> bool:
    if isinstance(item, str):
        check_text(item, what)
    return not isinstance(item, float) or math.isfinite(item)  # NaN and inf are not JSON


def check_text(text: str, what: str) -> None:
    """Raises SerializationError for a string Postgres cannot store (in jsonb or text)."""
    if "\x00" in text:
        raise SerializationError(
            f"{what} contains a NUL character (\\x00), which Postgres cannot store; "
            "strip it, or pass binary data as bytes (stored as a pickle) or base64"
        )
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise SerializationError(
                f"{what} contains a lone surrogate ({text[exc.start]!r} at index "
                f"{exc.start}), which is not valid UTF-8 (e.g. a file name from os.listdir "
                "that is not UTF-8): decode it with errors='replace', or pass it as bytes"
            ) from None


def storable_text(text: str) -> str:
    """`text` with what Postgres cannot store (NUL, lone surrogates) escaped, for messages."""
    text = text.replace("\x00", "\\x00")
    if text.isascii():
        return text
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


class Undecodable:
    """A JSON column pq could not decode (nested too deep for the parser): it fails its task
    in the worker instead of failing the statement that read it."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def __repr__(self) -> str:
        return f"<undecodable JSON: {self.reason}>"


def tolerant_json_loads(data: str | bytes) -> Any:
    """json.loads for a worker's connection: a document too deep for Python's parser becomes
    an Undecodable value, so one hostile row cannot break the claim of the others."""
    try:
        return json.loads(data)
    except RecursionError:
        return Undecodable(
            f"nested deeper than Python's JSON parser allows (pq's limit is {MAX_DEPTH})"
        )


def _mentions_model(annotation: Any) -> bool:
    if isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel):
        return True
    return any(_mentions_model(arg) for arg in typing.get_args(annotation))


_VARIADIC = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)


@functools.lru_cache(maxsize=4096)
def _annotates_a_model(fn: Callable[..., Any]) -> bool:
    try:
        hints = typing.get_type_hints(fn)
        parameters = inspect.signature(fn).parameters
    except (TypeError, NameError, ValueError):
        return False  # restore_arguments would leave such arguments as they are
    return any(
        name in hints and _mentions_model(hints[name]) and p.kind not in _VARIADIC
        for name, p in parameters.items()
    )


def annotates_a_model(fn: Callable[..., Any]) -> bool:
    """Whether a parameter of `fn` is annotated with a pydantic model, worked out once per
    function: the worker asks in the parent before forking, so a child inherits the answer
    instead of reading annotations and signatures for every task."""
    try:
        return _annotates_a_model(fn)
    except TypeError:  # an unhashable callable: no cache
        return bool(_annotates_a_model.__wrapped__(fn))


def restore_arguments(
    fn: Callable[..., Any], args: list[Any], kwargs: dict[str, Any]
) -> tuple[list[Any], dict[str, Any]]:
    """Turns JSON dumps back into pydantic models where `fn`'s annotations ask for one."""
    if not annotates_a_model(fn):
        return args, kwargs
    try:
        hints = typing.get_type_hints(fn)
        bound = inspect.signature(fn).bind(*args, **kwargs)
    except (TypeError, NameError):
        return args, kwargs  # unresolvable hints or a mismatch: the call itself will report it
    parameters = inspect.signature(fn).parameters
    for name, value in bound.arguments.items():
        annotation = hints.get(name)
        if annotation is None or not _mentions_model(annotation):
            continue
        if parameters[name].kind in _VARIADIC:
            continue  # *args / **kwargs hold a tuple or dict, not one annotated value
        try:
            bound.arguments[name] = pydantic.TypeAdapter(annotation).validate_python(value)
        except pydantic.ValidationError as exc:
            raise SerializationError(
                f"argument {name!r} does not match its annotation {annotation!r}: {exc}"
            ) from exc
    return list(bound.args), dict(bound.kwargs)
