"""`pq doctor APP`, run as an operator would: it names the transaction that holds back vacuum,
a missing migration, and a pooler without a direct URL for LISTEN."""

from __future__ import annotations

import contextlib

import psycopg

from pqcli import run_pq

APP = "taskmods.e2eapp:app"


def test_doctor_names_a_transaction_held_open(db_url: str) -> None:
    with psycopg.connect(db_url) as holder:
        holder.execute("SELECT txid_current()")  # an xid: vacuum cannot pass it while open
        pid = holder.info.backend_pid
        done = run_pq("doctor", APP, db_url=db_url)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "migrations: all applied" in done.stdout
    assert f"oldest open transaction: pid {pid} " in done.stdout
    assert "SELECT txid_current()" in done.stdout
    assert "table pq_tasks" in done.stdout


def test_doctor_reports_missing_migrations(empty_db_url: str) -> None:
    done = run_pq("doctor", APP, db_url=empty_db_url)
    assert done.returncode == 1
    assert "WARN  migrations missing: 0001_initial" in done.stdout
    assert f"pq migrate {APP}" in done.stdout


def test_doctor_behind_pgbouncer_asks_for_a_direct_listen_url(pooled_url: str, db_url: str) -> None:
    without = run_pq("doctor", APP, db_url=pooled_url)
    with_direct = run_pq("doctor", APP, db_url=pooled_url, env={"PQ_LISTEN_URL": db_url})
    assert without.returncode == 1
    assert "through a connection pooler: prepared statements off" in without.stdout
    assert "no direct URL for LISTEN" in without.stdout
    assert with_direct.returncode == 0, with_direct.stdout
    assert "LISTEN on the direct PQ_LISTEN_URL" in with_direct.stdout


def test_doctor_reports_an_index_a_concurrent_build_left_invalid(db_url: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("INSERT INTO pq_tasks (name) VALUES ('twice'), ('twice')")
        # A build that fails half way leaves its index behind, INVALID.
        with contextlib.suppress(psycopg.errors.UniqueViolation):
            conn.execute("CREATE UNIQUE INDEX CONCURRENTLY pq_tasks_half_built ON pq_tasks (name)")
    done = run_pq("doctor", APP, db_url=db_url)
    assert done.returncode == 1
    assert "WARN  index pq_tasks_half_built on pq_tasks is INVALID" in done.stdout
    assert f"pq migrate {APP}" in done.stdout
