"""Shared set-up for the benchmark scripts: a fresh schema on the configured database."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable

import psycopg

from pq import PQ


def fresh_app(schema: str) -> PQ:
    """A migrated PQ in a schema of its own, emptied first (PQ_DATABASE_URL or embedded)."""
    logging.basicConfig(level=logging.ERROR)
    app = PQ(schema=schema)
    with psycopg.connect(app.database_url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    app.run_db_migrations()
    return app


def rate(count: int, fn: Callable[[], object]) -> tuple[float, float]:
    """Runs fn once; returns (items per second, seconds)."""
    started = time.perf_counter()
    fn()
    elapsed = time.perf_counter() - started
    return count / elapsed, elapsed


def report(label: str, value: float, unit: str, limit: float, target: float) -> None:
    """Prints a figure with its ratio to the limit and whether it meets the target ratio."""
    ratio = value / limit if limit else float("nan")
    verdict = "ok" if ratio >= target else "BELOW TARGET"
    print(
        f"  {label:<44} {value:>10.1f} {unit:<8} ratio {ratio:5.2f} (target >= {target}) {verdict}"
    )


def cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system
