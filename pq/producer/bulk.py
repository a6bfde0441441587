"""Bulk enqueue: many tasks of one function in one COPY, returning their ids in order.

Ids are reserved from the table's identity sequence first, so COPY (which returns nothing)
can write them and the caller still learns which id belongs to which item.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pq.errors import ConfigurationError, SerializationError

if TYPE_CHECKING:
    from pq.producer.arguments import ShapeChecker
    from pq.producer.facade import Producer
    from pq.producer.task import TaskOptions
    from pq.serialization import Codec


def split_item(item: Any) -> tuple[list[Any], dict[str, Any]]:
    """One item of `map()`: a tuple is the positional arguments, a dict the keyword
    arguments, anything else the single positional argument (wrap a dict or a tuple meant
    as one argument in a 1-tuple: `(value,)`)."""
    if isinstance(item, tuple):
        return list(item), {}
    if isinstance(item, Mapping):
        if not all(isinstance(k, str) for k in item):
            raise ConfigurationError(
                "a dict item of map()/enqueue_many() is keyword arguments, so its keys must be "
                "str; pass (the_dict,) to give a dict as one positional argument"
            )
        return [], dict(item)
    return [item], {}


def insert_many(
    app: Producer,
    name: str,
    items: Iterable[Any],
    options: TaskOptions,
    *,
    run_at: datetime | None,
    connection: Any = None,
    checker: ShapeChecker | None = None,
) -> list[int]:
    """Reserves ids, COPYs the rows and wakes the workers of the queue, in one transaction;
    an item that cannot be stored fails the call and nothing is written.

    On our pool the items are encoded while the COPY streams, so the database takes in rows
    while the next ones are encoded (a bad one aborts the COPY and the transaction rolls
    back). In a caller's transaction (`connection=`) they are encoded before anything is
    sent, so a bad item leaves that transaction as it was."""
    if app.interceptor is not None:
        return _intercepted(app, name, items, options, run_at=run_at, checker=checker)
    items = items if isinstance(items, list | tuple) else list(items)
    if not items:
        return []
    rows = encode_rows(app.codec, name, items, options, checker)
    if connection is not None:
        rows = iter(list(rows))
    with app.executor(connection) as ex:
        ids, now = app.queries.task_reserve_ids(ex, len(items))
        when = run_at or now
        app.queries.task_copy(ex, ids, rows, **_shared(name, options, when))
        hold, payloads, queues = wake_up(name, options, when, now)
        if hold is not None:
            app.queries.flow_hold(ex, ids, hold)
        if payloads:
            app.queries.flow_notify(ex, payloads)
        if queues:
            app.queries.task_notify_queues(ex, queues)
    return ids


async def ainsert_many(
    app: Producer,
    name: str,
    items: Iterable[Any],
    options: TaskOptions,
    *,
    run_at: datetime | None,
    connection: Any,
    checker: ShapeChecker | None = None,
) -> list[int]:
    """`insert_many` in the transaction of a caller's async connection: the same statements,
    awaited. The items are encoded before anything is sent, so a bad one leaves that
    transaction as it was."""
    if app.interceptor is not None:
        return _intercepted(app, name, items, options, run_at=run_at, checker=checker)
    from pq.store.db_async import async_executor_for

    items = items if isinstance(items, list | tuple) else list(items)
    if not items:
        return []
    rows = list(encode_rows(app.codec, name, items, options, checker))
    ex = await async_executor_for(connection)
    async with ex.atomic():  # a connection in autocommit still writes all or nothing
        ids, now = await app.queries.atask_reserve_ids(ex, len(items))
        when = run_at or now
        await app.queries.atask_copy(ex, ids, rows, **_shared(name, options, when))
        hold, payloads, queues = wake_up(name, options, when, now)
        if hold is not None:
            await app.queries.aflow_hold(ex, ids, hold)
        if payloads:
            await app.queries.aflow_notify(ex, payloads)
        if queues:
            await app.queries.atask_notify_queues(ex, queues)
    return ids


def _intercepted(
    app: Producer,
    name: str,
    items: Iterable[Any],
    options: TaskOptions,
    *,
    run_at: datetime | None,
    checker: ShapeChecker | None,
) -> list[int]:
    calls = [split_item(item) for item in items]
    for index, (args, kwargs) in enumerate(calls):
        _check(checker, index, args, kwargs)
    assert app.interceptor is not None
    return [
        app.interceptor.insert(name, a, k, options, run_at=run_at, client_id=None) for a, k in calls
    ]


def _shared(name: str, options: TaskOptions, when: datetime) -> dict[str, Any]:
    """The columns every row of one bulk insert shares (see Queries.task_copy)."""
    return {
        "name": name,
        "queue": options.queue,
        "priority": options.priority,
        "run_at": when,
        "max_attempts": options.retries + 1,
    }


def wake_up(
    name: str, options: TaskOptions, when: datetime, now: datetime
) -> tuple[dict[str, Any] | None, list[str], list[str]]:
    """What follows the COPY of a bulk insert, in its transaction: the flow-control columns
    to hold the rows under (or None), and the notices to send (flow_notify payloads, queues
    for task_notify_queues). Rows due later wake no one: the workers' poll finds them."""
    flow = options.flow_columns(name)
    due = when <= now
    if flow["rate_key"] or flow["concurrency_key"]:  # flow control holds them back
        return flow, [f"w:{options.queue}"] if due else [], []
    return None, [], [options.queue] if due else []


def encode_rows(
    codec: Codec,
    name: str,
    items: Iterable[Any],
    options: TaskOptions,
    checker: ShapeChecker | None = None,
) -> Iterator[tuple[str, str, str]]:
    """(args, kwargs, options) JSON of every item's row; an item that cannot be stored, or
    whose arguments do not bind to the function's signature (`checker`), fails with its
    position in `items`, so the caller finds it among thousands. Without a secret_key every
    row shares one options text; with one, each row signs its arguments."""
    encode = codec.encode_arguments
    shared = options.options_json if codec.secret_key is None else None
    row_options = options.row_options()
    for index, item in enumerate(items):
        try:
            call = (item, _NO_KWARGS) if type(item) is tuple else split_item(item)
            _check(checker, index, *call)
            args, kwargs = encode(*call)
        except SerializationError as exc:
            raise SerializationError(f"{_item(index)}: {exc}") from exc
        except ConfigurationError as exc:
            raise ConfigurationError(f"{_item(index)}: {exc}") from exc
        if shared is None:
            signed = codec.signed_options(name, args, kwargs, row_options)
            yield args, kwargs, json.dumps(signed)
        else:
            yield args, kwargs, shared


_NO_KWARGS: dict[str, Any] = {}  # shared by tuple items: nothing below mutates it


def _check(
    checker: ShapeChecker | None, index: int, args: Sequence[Any], kwargs: Mapping[str, Any]
) -> None:
    if checker is None:
        return
    try:
        checker.check(args, kwargs)
    except TypeError as exc:
        raise TypeError(f"{_item(index)}: {exc}") from None


def _item(index: int) -> str:
    return f"item {index} of map()/enqueue_many()"
