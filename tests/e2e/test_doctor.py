"""`pq doctor APP`, run as an operator would: it names the transaction that holds back vacuum,
a missing migration, and a pooler without a direct URL for LISTEN."""

from __future__ import annotations

import contextlib

import psycopg
import pytest

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


def test_a_pooler_beside_postgres_on_unix_sockets_is_detected(server_url: str, db_url: str) -> None:
    # Both ends on Unix sockets give no client port to compare: the socket's port number,
    # not the server's, gives the pooler away.
    from bouncer import NoUnixSocket, PgBouncer, available

    if not available():
        pytest.skip("pgbouncer is not installed (CI installs Debian's)")
    try:
        bouncer = PgBouncer(server_url, unix=True)
    except NoUnixSocket as exc:  # a pgbouncer that fails to start fails the test instead
        pytest.skip(f"{exc}: nothing to put a pooler beside on a socket")
    try:
        pooled = run_pq("doctor", APP, db_url=bouncer.unix_url_for(db_url))
    finally:
        bouncer.stop()
    assert "through a connection pooler: prepared statements off (detected" in pooled.stdout
    assert "no direct URL for LISTEN" in pooled.stdout


def test_pq_pooled_settles_the_question_either_way(pooled_url: str, db_url: str) -> None:
    detected = run_pq("doctor", APP, db_url=db_url)
    said_direct = run_pq("doctor", APP, db_url=pooled_url, env={"PQ_POOLED": "0"})
    said_pooled = run_pq("doctor", APP, db_url=db_url, env={"PQ_POOLED": "1"})
    assert "direct connection to Postgres (detected" in detected.stdout
    assert "direct connection to Postgres (PQ_POOLED=0" in said_direct.stdout
    assert "through a connection pooler: prepared statements off (PQ_POOLED=1" in (
        said_pooled.stdout
    )
    assert "no direct URL for LISTEN" in said_pooled.stdout


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
