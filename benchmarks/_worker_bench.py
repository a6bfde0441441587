"""Shared by the reliability benchmarks: a scratch schema and a real `pq worker` subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from psycopg import sql

from pq import PQ
from pq.store.embedded import resolve_database_url

ROOT = Path(__file__).resolve().parent.parent


@contextmanager
def scratch_app(schema: str) -> Iterator[PQ]:
    """A PQ on its own schema of PQ_DATABASE_URL (else the embedded server), dropped after."""
    url = resolve_database_url(None)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
    app = PQ(url, schema=schema)
    app.run_db_migrations()
    try:
        yield app
    finally:
        app.close()
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


@contextmanager
def worker_process(app: PQ, target: str, *args: str) -> Iterator[subprocess.Popen[bytes]]:
    env = {
        **os.environ,
        "PQ_DATABASE_URL": app.database_url,
        "PQ_SCHEMA": app.settings.schema,
        "PYTHONPATH": str(ROOT),
    }
    pq_bin = Path(sys.executable).with_name("pq")
    proc = subprocess.Popen(
        [str(pq_bin), "worker", target, "--log-level", "WARNING", *args], env=env, cwd=ROOT
    )
    try:
        with psycopg.connect(app.database_url, autocommit=True) as conn:
            query = sql.SQL("SELECT count(*) FROM {}.pq_workers WHERE stopped_at IS NULL").format(
                sql.Identifier(app.settings.schema)
            )
            deadline = time.monotonic() + 30
            while conn.execute(query).fetchone() == (0,):
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise SystemExit("the worker did not start")
                time.sleep(0.05)
        yield proc
    finally:
        proc.terminate()
        proc.wait(60)


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")
