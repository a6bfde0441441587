"""Bulk enqueue: many tasks of one function in one COPY, returning their ids in order.

Ids are reserved from the table's identity sequence first, so COPY (which returns nothing)
can write them and the caller still learns which id belongs to which item.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pq.errors import ConfigurationError

if TYPE_CHECKING:
    from pq.producer.facade import Producer
    from pq.producer.task import TaskOptions


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
) -> list[int]:
    """Encodes every item first (a bad one fails the call before anything is written), then
    reserves ids, COPYs the rows and wakes the workers of the queue, all in one transaction."""
    if app.interceptor is not None:
        calls = [split_item(item) for item in items]
        return [
            app.interceptor.insert(name, a, k, options, run_at=run_at, client_id=None)
            for a, k in calls
        ]
    encoded = [_encode(app, split_item(item)) for item in items]
    if not encoded:
        return []
    row_options = options.row_options()
    if app.codec.secret_key is None:  # one options text for every row
        signed = [json.dumps(row_options)] * len(encoded)
    else:  # each row signs its own arguments
        signed = [json.dumps(app.codec.signed_options(name, a, k, row_options)) for a, k in encoded]
    with app.executor(connection) as ex:
        ids, now = app.queries.task_reserve_ids(ex, len(encoded))
        when = run_at or now
        app.queries.task_copy(
            ex, _rows(ids, encoded, signed, name=name, options=options, run_at=when)
        )
        flow = options.flow_columns(name)
        if flow["rate_key"] or flow["concurrency_key"]:  # flow control holds them back
            app.queries.flow_hold(ex, ids, flow)
            if when <= now:
                app.queries.flow_notify(ex, [f"w:{options.queue}"])
        elif when <= now:
            app.queries.task_notify_queues(ex, [options.queue])
    return ids


def _encode(app: Producer, call: tuple[list[Any], dict[str, Any]]) -> tuple[str, str]:
    return app.codec.encode_arguments(*call)


def _rows(
    ids: list[int],
    encoded: list[tuple[str, str]],
    options_texts: list[str],
    *,
    name: str,
    options: TaskOptions,
    run_at: datetime,
) -> Iterator[tuple[Any, ...]]:
    max_attempts = options.retries + 1
    for task_id, (args, kwargs), options_json in zip(ids, encoded, options_texts, strict=True):
        yield (
            task_id,
            name,
            options.queue,
            options.priority,
            args,
            kwargs,
            options_json,
            run_at,
            max_attempts,
        )
