"""Whether a connection pooler (PgBouncer in transaction mode, a cloud proxy) sits between
pq and Postgres, and what pq does about it.

Behind a pooler in transaction mode every transaction may run on another server session, so
pq must not rely on session state: no prepared statements (psycopg 3 prepares a statement
after 5 executions, and the name `_pg3_0` then clashes on a session another client prepared
it on) and no LISTEN (the notifications go to whichever session ran the LISTEN, not to us).

The answer comes from the settings (`pooled=True/False`, PQ_POOLED) or, when left to "auto",
from the first connection to a URL: the server sees its client on another port (or on a
Unix socket) than the one this process connected from, so something relays the connection.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from typing import Any

import psycopg

log = logging.getLogger("pq.db")

_lock = threading.Lock()
_known: dict[str, bool] = {}  # URL -> behind a pooler (declared or detected)

_DETECT = (
    "SELECT client_port FROM pg_catalog.pg_stat_activity WHERE pid = pg_catalog.pg_backend_pid()"
)


def declare(url: str, pooled: bool | None) -> None:
    """Settles the question for `url` from the settings (None: detect on first connection)."""
    if pooled is not None:
        with _lock:
            _known[url] = pooled


def is_pooled(url: str) -> bool | None:
    """True/False once declared or detected for `url`; None before its first connection."""
    return _known.get(url)


def settle(url: str, conn: psycopg.Connection[Any]) -> bool:
    """Whether `conn` (just opened on `url`) goes through a pooler; detected once per URL."""
    known = _known.get(url)
    if known is None:
        known = _detect(conn)
        with _lock:
            first = url not in _known
            _known.setdefault(url, known)
        if known and first:
            log.info(
                "a connection pooler relays this database URL (the server sees another client "
                "port): prepared statements are off and LISTEN needs a direct URL "
                "(PQ_LISTEN_URL); set PQ_POOLED=0 if there is no pooler"
            )
    if known:
        conn.prepare_threshold = None  # never prepare: the names would clash across sessions
    return known


def _detect(conn: psycopg.Connection[Any]) -> bool:
    try:
        own_port = _local_port(conn.pgconn.socket)
        with conn.cursor() as cur:
            cur.execute(_DETECT, prepare=False)
            row = cur.fetchone()
        if not conn.autocommit:
            conn.rollback()
    except (psycopg.Error, OSError):
        return False  # cannot tell: assume a direct connection, as before this check existed
    server_sees = -1 if row is None or row[0] is None else int(row[0])
    return own_port != server_sees


def _local_port(fd: int) -> int:
    """Our end's TCP port, or -1 on a Unix socket (as pg_stat_activity shows Unix clients)."""
    sock = socket.socket(fileno=os.dup(fd))
    try:
        if sock.family not in (socket.AF_INET, socket.AF_INET6):
            return -1
        return int(sock.getsockname()[1])
    finally:
        sock.close()
