"""Applies pq/store/migrations/NNNN_*.sql in order, each once, under an advisory lock."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from pq.errors import SchemaOutdatedError
from pq.store.db import PsycopgExecutor, connect
from pq.store.queries import Queries, migration_files, migration_text

log = logging.getLogger("pq.migrate")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    filename: str


def available_migrations() -> list[Migration]:
    migrations = []
    for filename in migration_files():
        number, _, rest = filename.removesuffix(".sql").partition("_")
        migrations.append(Migration(int(number), rest, filename))
    return sorted(migrations, key=lambda m: m.version)


def latest_version() -> int:
    return available_migrations()[-1].version


def apply_migrations(url: str, queries: Queries) -> list[Migration]:
    """Brings the schema up to date; returns the migrations it applied (none if current).

    Everything happens in one transaction that first takes an advisory lock keyed on the
    schema: a second process running this at the same time waits, then finds nothing to do.
    """
    with connect(url, autocommit=False) as conn:
        ex = PsycopgExecutor(conn)
        queries.migration_lock(ex)
        queries.schema_create(ex)
        applied = set(queries.migration_applied_versions(ex))
        done = []
        for migration in available_migrations():
            if migration.version in applied:
                continue
            log.info("applying migration %04d_%s", migration.version, migration.name)
            queries.migration_apply(
                ex, migration.version, migration.name, migration_text(migration.filename)
            )
            done.append(migration)
        conn.commit()
    return done


def check_schema_current(ex: PsycopgExecutor, queries: Queries, *, upgrade_hint: str) -> None:
    """Raises SchemaOutdatedError unless every migration this pq knows has been applied.

    Compares sets, not the highest number: migrations are numbered by feature and may land
    out of order, so a database at 0005 can still lack 0002.
    """
    applied = set(queries.migration_applied_versions(ex))
    missing = [m.version for m in available_migrations() if m.version not in applied]
    if missing:
        state = (
            "has no pq tables"
            if not applied
            else f"lacks migration(s) {', '.join(f'{v:04d}' for v in missing)}"
        )
        raise SchemaOutdatedError(
            f'the database schema "{queries.schema}" {state} but this pq needs migration '
            f"{latest_version()}; run `{upgrade_hint}` (or app.run_db_migrations()) to upgrade it"
        )
