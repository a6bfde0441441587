"""The worker parent's two connections (work and LISTEN), and getting them back after an outage.

A Postgres restart or `pg_terminate_backend` breaks a connection under the worker. Its
children do not care (they never use the parent's connections), so the parent only has to
notice, log once, stop claiming, retry the connection with a growing delay and carry on. The
worker keeps what it could not write (finished attempts) and writes it after reconnecting.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import suppress
from typing import Any, TypeVar

import psycopg

from pq.errors import DatabaseUnavailableError
from pq.store.db import PsycopgExecutor
from pq.store.redact import one_line, redact
from pq.worker.wakeup import Listener, Waiter

log = logging.getLogger("pq.worker")

T = TypeVar("T")

# What a lost connection raises: the server went away, the socket closed, or we could not
# reconnect yet. Anything else (a bug, bad SQL) is not an outage and propagates.
CONNECTION_ERRORS = (psycopg.OperationalError, psycopg.InterfaceError, DatabaseUnavailableError)
# What the database refuses in the values of one statement (a NUL in a string, a value over
# Postgres' 256 MiB limit), on a connection that is fine. "Program limit exceeded" (class 54)
# is an OperationalError to psycopg, but resending the same values can never succeed.
DATA_ERRORS = (psycopg.DataError, psycopg.errors.ProgramLimitExceeded)

# A statement that waited too long for a row lock a caller holds (an upsert inside the
# caller's open transaction, say), or ran past the session's statement_timeout on a slow
# server: the connection is fine, the statement is retried on a later loop turn, and
# meanwhile the loop heartbeats, enforces deadlines and reads signals.
STALL_ERRORS = (psycopg.errors.LockNotAvailable, psycopg.errors.QueryCanceled)
# How long one statement of the worker waits for a row lock: the longest the single-threaded
# loop can be held up by a caller's transaction before it goes back to supervising.
LOCK_TIMEOUT_MS = 1000

RECONNECT_FIRST_DELAY = 0.1
RECONNECT_MAX_DELAY = 5.0

# A network cut sends no reset. The worker does not wait for the kernel to notice (see
# pq/worker/stall.py: a call with no progress for `call_patience` seconds is abandoned and
# supervision runs while it waits); these only make a dead idle socket (the LISTEN
# connection) fail sooner: keepalives in about 10 + 3 x 5 s, unacknowledged data in 20 s.
# Unix sockets ignore them.
WORKER_CONNECTION_OPTIONS: dict[str, Any] = {
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
    "tcp_user_timeout": 20_000,
}


def statement_timeout(lease: float) -> float:
    """The worker sessions' statement_timeout, in seconds: a quarter of the lease (1 to 10 s),
    so that a statement ended by it still leaves room to heartbeat within the lease."""
    return max(1.0, min(10.0, lease / 4))


def call_patience(lease: float) -> float:
    """How long a worker's database call may go without progress before the connection is
    taken for lost: a second past the server's statement_timeout, whose error (connection
    kept) then comes first on a healthy connection that is merely slow."""
    return statement_timeout(lease) + 1.0


# While stopping, a call without progress for this long is abandoned: a stop does not wait a
# full patience per statement on a database that does not answer.
STOPPING_PATIENCE = 2.0


class DatabaseLink:
    """Owns the work connection and (unless poll-only) the listener; reconnects both."""

    def __init__(
        self,
        connect: Callable[[], psycopg.Connection[Any]],
        listen: Callable[[PsycopgExecutor], None] | None,
        waiter: Waiter,
        *,
        connect_listener: Callable[[], psycopg.Connection[Any]] | None = None,
    ) -> None:
        self._connect = connect
        # The listener may use another URL: a direct one when the work URL is pooled.
        self._connect_listener = connect_listener or connect
        self._listen = listen  # None: poll-only, no LISTEN connection at all
        # Asked once the work connection is open (it tells whether a pooler is in between).
        self.may_listen: Callable[[], bool] = lambda: True
        self._waiter = waiter
        self.conn: psycopg.Connection[Any] | None = None
        self.listener: Listener | None = None
        self.failures = 0
        self.next_attempt = 0.0
        self.down_since: float | None = None

    # -- state -------------------------------------------------------------------------------
    @property
    def up(self) -> bool:
        return self.conn is not None

    @property
    def complete(self) -> bool:
        """Both connections this worker wants are open."""
        return self.conn is not None and (self._listen is None or self.listener is not None)

    def executor(self) -> PsycopgExecutor:
        if self.conn is None:
            raise psycopg.InterfaceError("the work connection is down")
        return PsycopgExecutor(self.conn)

    # -- opening -----------------------------------------------------------------------------
    def open(self) -> None:
        """First connection at start-up: failures propagate (the worker does not start)."""
        self.conn = self._connect()
        if self._listen is not None and not self.may_listen():
            self._listen = None  # for good: LISTEN through a pooler would hear nothing
        if self._listen is not None:
            self._open_listener()

    @property
    def listening(self) -> bool:
        """Whether this worker wants a LISTEN connection at all (False: it polls)."""
        return self._listen is not None

    def _open_listener(self) -> None:
        assert self._listen is not None
        conn = self._connect_listener()
        try:
            self._listen(PsycopgExecutor(conn))
        except BaseException:
            conn.close()
            raise
        self.listener = Listener(conn)
        self._waiter.watch(self.listener.fileno(), Waiter.LISTENER)

    # -- losing and regaining ----------------------------------------------------------------
    def call(
        self, what: str, fn: Callable[[PsycopgExecutor], T], *, raise_data_errors: bool = False
    ) -> T | None:
        """Runs one database step; on a lost connection logs it, drops it and returns None.

        A value the database refuses (DATA_ERRORS) is logged and gives None too, with the
        connection kept; callers that can isolate the bad value ask for it raised instead.
        """
        try:
            return fn(self.executor())
        except DATA_ERRORS as exc:
            if raise_data_errors:
                raise
            log.error("%s failed: the database refused a value (%s)", what, _first_line(exc))
            return None
        except STALL_ERRORS as exc:
            log.warning(
                "%s took too long (%s: a row lock held by another transaction, or a slow "
                "server); supervising meanwhile, retried on a later turn",
                what,
                _first_line(exc),
            )
            return None
        except CONNECTION_ERRORS as exc:
            self.lost_work(what, exc)
            return None

    def lost_work(self, what: str, exc: BaseException) -> None:
        if self.conn is not None:
            log.warning(
                "database connection lost while %s (%s); running tasks carry on, no new "
                "claims until it is back",
                what,
                _first_line(exc),
            )
            with suppress(Exception):
                self.conn.close()
            self.conn = None
        self._note_failure()

    def lost_listener(self, exc: BaseException) -> None:
        if self.listener is not None:
            log.warning("listener connection lost (%s); polling until it is back", _first_line(exc))
            self._waiter.unwatch(self.listener.fileno())
            with suppress(Exception):
                self.listener.conn.close()
            self.listener = None
        self._note_failure()

    def _note_failure(self) -> None:
        now = time.monotonic()
        if self.down_since is None:
            self.down_since = now
        delay = min(RECONNECT_MAX_DELAY, RECONNECT_FIRST_DELAY * 2**self.failures)
        self.failures += 1
        self.next_attempt = now + delay

    def reconnect_if_due(self) -> bool:
        """Tries to reopen what is down; True when the work connection just came back."""
        if self.complete or time.monotonic() < self.next_attempt:
            return False
        came_back = False
        try:
            if self.conn is None:
                self.conn = self._connect()
                came_back = True
            if self._listen is not None and self.listener is None:
                self._open_listener()
                log.info("listener reconnected: notifications are back")
        except CONNECTION_ERRORS as exc:
            log.info("database still unreachable (%s); next try in a moment", _first_line(exc))
            self._note_failure()
        if came_back:
            down = time.monotonic() - (self.down_since or time.monotonic())
            log.info("database connection re-established after %.1fs", down)
        if self.complete:
            self.failures = 0
            self.down_since = None
        return came_back

    def on_listener(self, what: str, fn: Callable[[PsycopgExecutor], None]) -> bool:
        """Runs `fn` on the listener connection (LISTEN, UNLISTEN); False if it is down or
        was lost doing it."""
        if self.listener is None:
            return False
        try:
            fn(PsycopgExecutor(self.listener.conn))
        except CONNECTION_ERRORS as exc:
            log.debug("%s failed", what)
            self.lost_listener(exc)
            return False
        return True

    def drain_notifications(self) -> list[str]:
        if self.listener is None:
            return []
        try:
            return self.listener.drain()
        except CONNECTION_ERRORS as exc:
            self.lost_listener(exc)
            return []

    def close(self) -> None:
        if self.listener is not None:
            self._waiter.unwatch(self.listener.fileno())
            with suppress(Exception):
                self.listener.conn.close()
            self.listener = None
        if self.conn is not None:
            with suppress(Exception):
                self.conn.close()
            self.conn = None


def _first_line(exc: BaseException) -> str:
    # Driver messages may quote a connection string: mask any password in it.
    return redact(one_line(str(exc))) or type(exc).__name__
