"""Applies pq/store/migrations/NNNN_*.sql in order, each once, under an advisory lock.

A migration whose first line is `-- pq:no-transaction` runs outside any transaction, one
statement at a time (its statements end at a line ending in `;`): CREATE INDEX CONCURRENTLY
and DROP INDEX CONCURRENTLY must, and they are how an index is built on a table of millions of
rows without holding up enqueues for the length of the build. On an empty pq_tasks (a new
database) it runs in a transaction like the others, without CONCURRENTLY: there is nothing to
keep writable, and a concurrent build would wait for every transaction open in the database.
"""

from __future__ import annotations

import logging
import re
import time
from contextlib import suppress
from dataclasses import dataclass

import psycopg

from pq.errors import SchemaOutdatedError
from pq.store import pooler
from pq.store.db import PsycopgExecutor, connect
from pq.store.queries import Queries, migration_files, migration_text

log = logging.getLogger("pq.migrate")

NO_TRANSACTION = "-- pq:no-transaction"
_CREATE_INDEX_CONCURRENTLY = re.compile(
    r"CREATE\s+(?:UNIQUE\s+)?INDEX\s+CONCURRENTLY\s+IF\s+NOT\s+EXISTS\s+(\w+)", re.IGNORECASE
)
_CONCURRENTLY = re.compile(r"\s+CONCURRENTLY\b", re.IGNORECASE)


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    filename: str

    @property
    def text(self) -> str:
        return migration_text(self.filename)

    @property
    def transactional(self) -> bool:
        return not self.text.startswith(NO_TRANSACTION)


def available_migrations() -> list[Migration]:
    migrations = []
    for filename in migration_files():
        number, _, rest = filename.removesuffix(".sql").partition("_")
        migrations.append(Migration(int(number), rest, filename))
    return sorted(migrations, key=lambda m: m.version)


def latest_version() -> int:
    return available_migrations()[-1].version


def statements(text: str) -> list[str]:
    """The statements of a no-transaction migration: each ends at a line ending in `;`
    (pq's own files keep every other `;` off line ends), without the comments before it."""
    pieces, current = [], []
    for line in text.splitlines():
        current.append(line)
        if line.rstrip().endswith(";"):
            pieces.append("\n".join(current))
            current = []
    pieces.append("\n".join(current))
    found = []
    for piece in pieces:
        lines = piece.splitlines()
        while lines and not _is_code(lines[0]):
            lines.pop(0)  # the comments before it: pg_stat_activity shows the statement itself
        if lines:
            found.append("\n".join(lines).strip().removesuffix(";"))
    return found


def _is_code(line: str) -> bool:
    stripped = line.strip()
    return bool(stripped) and not stripped.startswith("--")


def apply_migrations(url: str, queries: Queries) -> list[Migration]:
    """Brings the schema up to date; returns the migrations it applied (none if current).

    A second process running this at the same time waits for the first, then finds nothing
    to do. On a direct connection each migration commits on its own while a session
    advisory lock is held across all of them; through a connection pooler (where a session
    lock would not stay on one server connection) everything runs in one transaction under
    a transaction-scoped lock on the same key, no-transaction migrations included, without
    CONCURRENTLY.
    """
    with connect(url) as conn:
        ex = PsycopgExecutor(conn)
        if pooler.is_pooled(url):
            return _apply_in_one_transaction(ex, queries)
        return _apply_one_by_one(ex, queries)


def _pending(ex: PsycopgExecutor, queries: Queries) -> list[Migration]:
    applied = set(queries.migration_applied_versions(ex))
    return [m for m in available_migrations() if m.version not in applied]


def _apply_in_one_transaction(ex: PsycopgExecutor, queries: Queries) -> list[Migration]:
    done = []
    with ex.conn.transaction():
        queries.migration_lock(ex)
        queries.schema_create(ex)
        for migration in _pending(ex, queries):
            log.info("applying migration %04d_%s", migration.version, migration.name)
            if not migration.transactional and queries.task_table_has_rows(ex):
                log.warning(
                    "migration %04d_%s builds indexes; through a connection pooler it runs in "
                    "one transaction and writes to pq_tasks wait until it ends: on a large "
                    "table, run `pq migrate` with a direct database URL instead",
                    migration.version,
                    migration.name,
                )
            _apply_in_transaction(ex, queries, migration)
            done.append(migration)
    return done


def _apply_in_transaction(ex: PsycopgExecutor, queries: Queries, migration: Migration) -> None:
    """Inside the caller's transaction; a no-transaction migration's statements lose their
    CONCURRENTLY (they take the locks of a plain build)."""
    if migration.transactional:
        queries.migration_apply(ex, migration.version, migration.name, migration.text)
        return
    for statement in statements(migration.text):
        _drop_if_invalid(ex, queries, statement, concurrently=False)
        queries.migration_run(ex, _CONCURRENTLY.sub("", statement))
    queries.migration_record(ex, migration.version, migration.name)


def _apply_one_by_one(ex: PsycopgExecutor, queries: Queries) -> list[Migration]:
    _wait_for_session_lock(ex, queries)
    try:
        queries.schema_create(ex)
        done = []
        for migration in _pending(ex, queries):
            log.info("applying migration %04d_%s", migration.version, migration.name)
            # An empty pq_tasks (a new database) has nothing to keep writable during a build:
            # a plain one is instant there, and CONCURRENTLY would wait for every transaction
            # open anywhere in the database, a caller's own included.
            if migration.transactional or not queries.task_table_has_rows(ex):
                with ex.conn.transaction():
                    _apply_in_transaction(ex, queries, migration)
            else:
                _apply_concurrently(ex, queries, migration)
            done.append(migration)
        return done
    finally:
        with suppress(psycopg.Error):  # a broken connection has released the lock anyway
            queries.migration_session_unlock(ex)


def _apply_concurrently(ex: PsycopgExecutor, queries: Queries, migration: Migration) -> None:
    """Autocommit, statement by statement: a failure leaves the statements before it done,
    and the next run repeats them (each is IF [NOT] EXISTS)."""
    for statement in statements(migration.text):
        _drop_if_invalid(ex, queries, statement, concurrently=True)
        queries.migration_run(ex, statement)
    queries.migration_record(ex, migration.version, migration.name)


def _wait_for_session_lock(ex: PsycopgExecutor, queries: Queries) -> None:
    """Takes the session lock, polling rather than blocking: a session blocked in
    pg_advisory_lock holds a snapshot, which the other migrator's CREATE INDEX CONCURRENTLY
    waits out, while that migrator holds the lock: a deadlock. Between polls we hold none."""
    delay = 0.02
    waited = False
    while not queries.migration_session_try_lock(ex):
        if not waited:
            log.info("another process is migrating this schema: waiting for it")
            waited = True
        time.sleep(delay)
        delay = min(delay * 2, 0.5)


def _drop_if_invalid(
    ex: PsycopgExecutor, queries: Queries, statement: str, *, concurrently: bool
) -> None:
    """Before CREATE INDEX CONCURRENTLY IF NOT EXISTS: an index of that name left INVALID by
    an interrupted build would satisfy IF NOT EXISTS and never be used; drop it first."""
    match = _CREATE_INDEX_CONCURRENTLY.search(statement)
    if match is None or not queries.index_invalid(ex, match.group(1)):
        return
    log.warning("index %s was left invalid by an interrupted build: rebuilding it", match[1])
    queries.index_drop(ex, match.group(1), concurrently=concurrently)


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
