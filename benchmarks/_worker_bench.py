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
def scratch_database(name: str) -> Iterator[PQ]:
    """A PQ on a database of its own (pg_stat_database counts per database), dropped after."""
    server = resolve_database_url(None)
    info = psycopg.conninfo.conninfo_to_dict(server)
    info["dbname"] = name
    url = psycopg.conninfo.make_conninfo(**info)  # type: ignore[arg-type]
    drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(drop)
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    app = PQ(url, schema=name)
    app.run_db_migrations()
    try:
        yield app
    finally:
        app.close()
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(drop)


@contextmanager
def worker_processes(
    app: PQ, target: str, count: int, *args: str, env: dict[str, str] | None = None
) -> Iterator[list[subprocess.Popen[bytes]]]:
    """`count` real `pq worker target` processes, yielded once all have registered and
    stopped with SIGTERM after. `env` adds variables (settings) to the workers'."""
    environment = {
        **os.environ,
        "PQ_DATABASE_URL": app.database_url,
        "PQ_SCHEMA": app.settings.schema,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        **(env or {}),
    }
    pq_bin = Path(sys.executable).with_name("pq")
    command = [str(pq_bin), "worker", target, "--log-level", "WARNING", *args]
    procs = [subprocess.Popen(command, env=environment, cwd=ROOT) for _ in range(count)]
    try:
        with psycopg.connect(app.database_url, autocommit=True) as conn:
            query = sql.SQL("SELECT count(*) FROM {}.pq_workers WHERE stopped_at IS NULL").format(
                sql.Identifier(app.settings.schema)
            )
            deadline = time.monotonic() + 60
            while (conn.execute(query).fetchone() or (0,))[0] < count:
                if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                    raise SystemExit("the workers did not start")
                time.sleep(0.05)
        yield procs
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(60)


@contextmanager
def worker_process(app: PQ, target: str, *args: str) -> Iterator[subprocess.Popen[bytes]]:
    with worker_processes(app, target, 1, *args) as (proc,):
        yield proc


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")
