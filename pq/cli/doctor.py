"""`pq doctor APP`: checks a deployment and says what to do about what it finds.

Pooler and prepared statements, missing migrations, connections against the budget of
docs/scaling.md, table and index sizes, dead tuples, and the oldest open transaction that
holds back vacuum (with its pid and query). Exit status 1 when something needs attention.
"""

from __future__ import annotations

from typing import Any

import typer

from pq.cli.common import AppArg, clear_errors, configure_logging
from pq.cli.loader import load_app

OLD_TRANSACTION = 300.0  # seconds: an open transaction older than this holds back vacuum
DEAD_SHARE = 0.2  # dead tuples above this share of live ones: vacuum is not keeping up


def register(cli: typer.Typer) -> None:
    cli.command()(doctor)


def doctor(app: AppArg) -> None:
    """Check the deployment: pooler, migrations, connections, table bloat, vacuum blockers."""
    from pq.store import pooler
    from pq.store.db import PsycopgExecutor
    from pq.store.health import read_health
    from pq.store.migrate import available_migrations

    configure_logging("WARNING")
    with clear_errors():
        pq_app = load_app(app)
        with pq_app.connect() as conn:
            ex = PsycopgExecutor(conn)
            applied = set(pq_app.queries.migration_applied_versions(ex))
            health = read_health(pq_app.queries, ex, has_tables=bool(applied))
        pooled = bool(pooler.is_pooled(pq_app.database_url))
    report = Report()
    missing = [m for m in available_migrations() if m.version not in applied]
    _pooler(report, pooled, pq_app.settings.listen_url, pooler.source(pq_app.database_url))
    if missing:
        names = ", ".join(f"{m.version:04d}_{m.name}" for m in missing)
        report.warn(f"migrations missing: {names}", f"run `pq migrate {app}` (direct URL)")
    else:
        report.ok("migrations: all applied")
    _connections(report, health.connections, health.workers)
    _sizes(report, health.sizes, health.dead)
    for index in health.invalid:
        report.warn(
            f"index {index['name']} on {index['table_name']} is INVALID: a concurrent build "
            "was interrupted; writes still maintain it but no query uses it",
            f"run `pq migrate {app}` (direct URL), which drops and rebuilds the indexes of a "
            "migration it has not recorded; otherwise DROP INDEX CONCURRENTLY it",
        )
    _vacuum_blockers(report, health.xmin)
    typer.echo(f"{report.problems} problem(s) found" if report.problems else "all good")
    raise typer.Exit(1 if report.problems else 0)


class Report:
    def __init__(self) -> None:
        self.problems = 0

    def ok(self, text: str) -> None:
        typer.echo(f"ok    {text}")

    def info(self, text: str) -> None:
        typer.echo(f"      {text}")

    def warn(self, text: str, advice: str) -> None:
        self.problems += 1
        typer.echo(f"WARN  {text}\n      -> {advice}")


def _pooler(report: Report, pooled: bool, listen_url: str | None, how: str) -> None:
    if not pooled:
        report.ok(f"direct connection to Postgres ({how})")
        return
    report.ok(f"through a connection pooler: prepared statements off ({how})")
    if listen_url:
        report.ok("LISTEN on the direct PQ_LISTEN_URL: pick-up in milliseconds")
    else:
        report.warn(
            "no direct URL for LISTEN: workers poll and result() waits re-read",
            "set PQ_LISTEN_URL (or --listen-url) to a URL that bypasses the pooler",
        )


def _connections(report: Report, conns: dict[str, Any], workers: dict[str, Any]) -> None:
    used, limit = int(conns["server"]), int(conns["max_connections"])
    report.ok(
        f"connections: {used} of max_connections={limit} on the server, "
        f"{conns['this_database']} to this database"
    )
    if workers:
        n, slots = int(workers["workers"]), int(workers["slots"])
        report.info(
            f"{n} live worker(s): budget {2 * n} for workers + up to {slots} for running tasks "
            "that enqueue + each producer's pool (docs/scaling.md)"
        )
    if used > 0.8 * limit:
        report.warn(
            f"{used} of {limit} connections in use",
            "put PgBouncer (transaction mode) in front, or lower PQ_POOL_MAX_SIZE",
        )
    if int(conns["idle_in_transaction"]):
        report.info(f"{conns['idle_in_transaction']} session(s) idle in transaction")


def _sizes(report: Report, sizes: list[dict[str, Any]], dead: list[dict[str, Any]]) -> None:
    for row in sizes[:6]:
        report.info(f"{row['kind']:<5} {row['name']:<32} {_mib(row['bytes'])}")
    for row in dead:
        live, dead_n = int(row["live"]), int(row["dead"])
        if dead_n > 1000 and dead_n > DEAD_SHARE * max(live, 1):
            report.warn(
                f"{row['name']}: {dead_n} dead tuples for {live} live "
                f"(last vacuum {row['vacuumed_at'] or 'never'})",
                "look for an old open transaction (below); check autovacuum is on; "
                "migration 0003 sets pq_tasks' autovacuum thresholds",
            )


def _vacuum_blockers(report: Report, rows: list[dict[str, Any]]) -> None:
    if not rows:
        report.ok("no open transaction holds back vacuum")
        return
    top = rows[0]
    text = (
        f"oldest open transaction: pid {top['pid']} ({top['user']}@{top['database']}, "
        f"{top['state']}, open {top['open_seconds'] or 0:.0f}s, xmin age {top['xmin_age']}): "
        f"{top['query']}"
    )
    if (top["open_seconds"] or 0) > OLD_TRANSACTION:
        report.warn(
            text,
            f"end it (SELECT pg_terminate_backend({top['pid']})) and fix the code that "
            "keeps it open; set idle_in_transaction_session_timeout",
        )
    else:
        report.ok(text)


def _mib(size: int) -> str:
    return f"{size / 1024 / 1024:8.1f} MiB"
