"""Statements of the migration runner (pq/store/migrate.py). Mixed into `Queries`; like it,
this module runs only SQL from pq/store/sql/ and the migration files."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pq.store.db import Executor


class MigrationQueries:
    """Migration statements (a mixin of `Queries`)."""

    if TYPE_CHECKING:
        schema: str
        _quoted: str

        def sql(self, name: str) -> str: ...

        def render(self, text: str) -> str: ...

    def _migration_key(self) -> int:
        return int.from_bytes(
            hashlib.sha256(f"pq:{self.schema}".encode()).digest()[:8], "big", signed=True
        )

    def migration_lock(self, ex: Executor) -> None:
        """Until the end of the current transaction."""
        ex.fetch(self.sql("migration_lock"), {"key": self._migration_key()})

    def migration_session_try_lock(self, ex: Executor) -> bool:
        """Until migration_session_unlock or the connection closes: held across the
        autocommit statements of a no-transaction migration. The same key as
        migration_lock, so either kind excludes the other (and older pq versions)."""
        rows = ex.fetch(self.sql("migration_session_try_lock"), {"key": self._migration_key()})
        return bool(rows[0]["locked"])

    def migration_session_unlock(self, ex: Executor) -> None:
        ex.fetch(self.sql("migration_session_unlock"), {"key": self._migration_key()})

    def schema_create(self, ex: Executor) -> None:
        ex.fetch(self.sql("schema_create"), {})

    def migration_applied_versions(self, ex: Executor) -> list[int]:
        rows = ex.fetch(
            self.sql("migration_table_exists"), {"table_name": f"{self._quoted}.pq_migrations"}
        )
        if not rows[0]["present"]:
            return []
        return [r["version"] for r in ex.fetch(self.sql("migration_list_applied"), {})]

    def migration_apply(self, ex: Executor, version: int, name: str, text: str) -> None:
        ex.fetch(self.render(text), {})
        self.migration_record(ex, version, name)

    def migration_run(self, ex: Executor, statement: str) -> None:
        """One statement of a no-transaction migration, on an autocommit connection."""
        ex.fetch(self.render(statement), {})

    def migration_record(self, ex: Executor, version: int, name: str) -> None:
        ex.fetch(self.sql("migration_record"), {"version": version, "name": name})

    def task_table_has_rows(self, ex: Executor) -> bool:
        return bool(ex.fetch(self.sql("task_table_has_rows"), {})[0]["present"])

    def index_invalid(self, ex: Executor, index: str) -> bool:
        """Whether the schema holds an index of that name left INVALID (an interrupted
        CREATE INDEX CONCURRENTLY): IF NOT EXISTS would keep it, unusable, forever."""
        rows = ex.fetch(self.sql("index_invalid"), {"schema": self.schema, "index": index})
        return bool(rows)

    def index_drop(self, ex: Executor, index: str, *, concurrently: bool) -> None:
        """Drops an index of the schema; concurrently (on an autocommit connection) it does
        not block writes to its table."""
        text = self.sql("index_drop_concurrently").replace("{index}", f'"{index}"')
        ex.fetch(text if concurrently else text.replace(" CONCURRENTLY", ""), {})
