"""Whether a connection pooler (PgBouncer in transaction mode, a cloud proxy) sits between
pq and Postgres, and what pq does about it.

Behind a pooler in transaction mode every transaction may run on another server session, so
pq must not rely on session state: no prepared statements (psycopg 3 prepares a statement
after 5 executions, and the name `_pg3_0` then clashes on a session another client prepared
it on) and no LISTEN (the notifications go to whichever session ran the LISTEN, not to us).

The answer comes from the settings (`pooled=True/False`, PQ_POOLED) or, when left to "auto",
from the first connection to a URL: the server sees its client on another port (or on a
Unix socket) than the one this process connected from, so something relays the connection.
When both ends are Unix sockets (a pooler beside Postgres on its host) there is no client
port to compare: the socket we connected to then carries another port number than the
server's own `port` setting, which only a relay's socket can.

Any relay counts, poolers in session mode and port-mapping proxies too (Docker's userland
proxy, an SSH tunnel, a cloud SQL proxy): for those PQ_POOLED=0 keeps LISTEN and prepared
statements (docs/scaling.md, "Behind PgBouncer").
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
_declared: set[str] = set()  # URLs whose answer came from the settings

_DETECT = (
    "SELECT client_port, pg_catalog.current_setting('port')::integer"
    " FROM pg_catalog.pg_stat_activity WHERE pid = pg_catalog.pg_backend_pid()"
)


def declare(url: str, pooled: bool | None) -> None:
    """Settles the question for `url` from the settings (None: detect on first connection)."""
    if pooled is not None:
        with _lock:
            _known[url] = pooled
            _declared.add(url)


def is_pooled(url: str) -> bool | None:
    """True/False once declared or detected for `url`; None before its first connection."""
    return _known.get(url)


def source(url: str) -> str:
    """How the answer for `url` was reached, for messages: what to set if it is wrong."""
    pooled = _known.get(url)
    if url in _declared:
        return f"PQ_POOLED={int(bool(pooled))} (or pooled={bool(pooled)}) says so"
    if pooled:
        return (
            "detected: the server sees another client port; set PQ_POOLED=0 if nothing "
            "pools the connections (a port-mapping proxy, PgBouncer in session mode)"
        )
    return "detected: no relay between pq and Postgres; set PQ_POOLED=1 if a pooler is there"


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
    if own_port != server_sees:
        return True
    # Both ends on Unix sockets: a socket named for another port than the server's own is a
    # relay's (a pooler on the database host, reached and reaching Postgres by socket).
    return own_port == -1 and row is not None and conn.info.port != int(row[1])


def _local_port(fd: int) -> int:
    """Our end's TCP port, or -1 on a Unix socket (as pg_stat_activity shows Unix clients)."""
    sock = socket.socket(fileno=os.dup(fd))
    try:
        if sock.family not in (socket.AF_INET, socket.AF_INET6):
            return -1
        return int(sock.getsockname()[1])
    finally:
        sock.close()
