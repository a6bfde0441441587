"""What the worker, its children and the scheduler use of an app, and nothing more.

`PQ` builds one `Runtime` and hands it to `pq.worker`; the worker therefore cannot reach the
producer pool (which must never be used across a fork), the testing interceptor, or any of the
public API calls. Everything here is safe to use in the parent before a fork and in a child
after it: the registry and codec are plain data, the queries only format SQL, and the URL is
a string resolved once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pq.registry import Registry
from pq.serialization import Codec
from pq.store.queries import Queries


@dataclass(frozen=True)
class Runtime:
    registry: Registry
    codec: Codec
    queries: Queries
    # Resolved on first use (it may start the embedded database), hence a function.
    database_url: Callable[[], str]
    # A direct URL for LISTEN when database_url goes through a pooler (None: none given).
    listen_url: Callable[[], str | None] = lambda: None
