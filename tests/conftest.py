"""The test database: a real Postgres, never a mock.

`PQ_TEST_DATABASE_URL` picks a server (any database on it; we create our own beside it);
otherwise the embedded Postgres of the `embedded` extra is started under .pq/test-pgdata.
A template database is migrated once per session and cloned for every test that asks for
`db_url` (cloning a small template takes a few tens of milliseconds). Names carry the pid,
so several test sessions can share one server.
"""

from __future__ import annotations

import faulthandler
import itertools
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from pq import PQ


def _send_child_crash_dumps_to_captured_stderr() -> None:
    # pytest's faulthandler plugin writes to a duplicate of the terminal's stderr, and a task
    # child forked by an in-process worker inherits it: every deliberate segfault in the
    # isolation tests would print a Python crash dump into the progress output. Pointed at
    # fd 2 instead, the dump lands in pytest's captured output and is shown only when that
    # test fails.
    if faulthandler.is_enabled():
        faulthandler.enable(file=sys.__stderr__)


os.register_at_fork(after_in_child=_send_child_crash_dumps_to_captured_stderr)

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # so tests, children and subprocesses import taskmods
# Apps made in test modules (package `conftest`, `test_x`) run the functions of taskmods, as
# an app of a real project runs its own package's functions (pq.registry's allow-list).
os.environ.setdefault("PQ_INCLUDE", "taskmods")

_counter = itertools.count()


EMBEDDED_ROOT = ROOT / ".pq" / "test"


@pytest.fixture(scope="session")
def server_url() -> Iterator[str]:
    url = os.environ.get("PQ_TEST_DATABASE_URL")
    if url:
        yield url
        return
    from pq.store import embedded

    # Stop the embedded server at the end only if this session started it, so a developer's
    # already-running test server (or a parallel session's) is left alone.
    was_running = embedded.status(EMBEDDED_ROOT).running
    yield embedded.ensure_started(EMBEDDED_ROOT)
    if not was_running:
        embedded.stop(EMBEDDED_ROOT)


def _with_dbname(url: str, dbname: str) -> str:
    params = psycopg.conninfo.conninfo_to_dict(url)
    params["dbname"] = dbname
    return psycopg.conninfo.make_conninfo(**params)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def template_db(server_url: str) -> Iterator[str]:
    name = f"pq_test_template_{os.getpid()}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    app = PQ(_with_dbname(server_url, name))
    app.run_db_migrations()
    app.close()
    yield name
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@pytest.fixture
def db_url(server_url: str, template_db: str) -> Iterator[str]:
    """A freshly migrated database of this test's own."""
    name = f"pq_test_{os.getpid()}_{next(_counter)}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(template_db)
            )
        )
    yield _with_dbname(server_url, name)
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@pytest.fixture
def empty_db_url(server_url: str) -> Iterator[str]:
    """A database with no pq tables at all (for migration tests)."""
    name = f"pq_test_empty_{os.getpid()}_{next(_counter)}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield _with_dbname(server_url, name)
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@pytest.fixture
def app(db_url: str) -> Iterator[PQ]:
    """A PQ on this test's own database."""
    instance = PQ(db_url)
    yield instance
    instance.close()


@pytest.fixture(scope="session")
def pgbouncer(server_url: str) -> Iterator[object]:
    """A real PgBouncer in transaction mode in front of the test server (tests/bouncer.py)."""
    from bouncer import PgBouncer, available

    if not available():
        pytest.skip("pgbouncer is not installed (apt-get install pgbouncer; .ci/run does)")
    bouncer = PgBouncer(server_url)
    yield bouncer
    bouncer.stop()


@pytest.fixture
def pooled_url(pgbouncer: object, db_url: str) -> str:
    """This test's own database (`db_url`), reached through PgBouncer in transaction mode."""
    return pgbouncer.url_for(db_url)  # type: ignore[attr-defined,no-any-return]
