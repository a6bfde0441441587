"""What `pq doctor` reads from the database: sizes, dead tuples, the oldest transaction that
holds back vacuum, connections, live workers, indexes a migration left half built.
Read-only statements of pq/store/sql/health_*."""

from __future__ import annotations

from dataclasses import dataclass, field

from pq.store.db import PsycopgExecutor, Row
from pq.store.queries import Queries


@dataclass
class Health:
    sizes: list[Row] = field(default_factory=list)  # {name, kind, bytes}
    dead: list[Row] = field(default_factory=list)  # {name, live, dead, vacuumed_at}
    xmin: list[Row] = field(default_factory=list)  # {pid, database, user, state, ...}
    connections: Row = field(default_factory=dict)
    workers: Row = field(default_factory=dict)  # {workers, slots}
    invalid: list[Row] = field(default_factory=list)  # {name, table_name}: half-built indexes


def read_health(queries: Queries, ex: PsycopgExecutor, *, has_tables: bool) -> Health:
    schema = {"schema": queries.schema}
    health = Health(
        sizes=ex.fetch(queries.sql("health_sizes"), schema),
        dead=ex.fetch(queries.sql("health_dead_tuples"), schema),
        xmin=ex.fetch(queries.sql("health_xmin"), {}),
        connections=ex.fetch(queries.sql("health_connections"), {})[0],
        invalid=ex.fetch(queries.sql("health_invalid_indexes"), schema),
    )
    if has_tables:
        health.workers = ex.fetch(queries.sql("health_workers"), {})[0]
    return health
