"""The worker parent's database calls never hold up supervision, whatever the database does.

The parent is single-threaded and forks: while it waits for Postgres nothing else runs, so a
call that hangs (a silent network cut, a stalled server, a statement stuck behind a lock)
would leave overdue tasks running, stop signals unanswered and the lease unrenewed. Instead
of a database thread (a thread holding a lock when the parent forks would leave that lock
held forever in the child), every wait of the worker's connections is driven here, in the
parent's own thread, with psycopg's non-blocking protocol generators:

- the socket is polled in short slices (`TICK`); between slices `supervise()` runs: it
  kills children past their max_runtime or their lease and acts on stop signals (their
  handlers only set flags, and run even while we wait). It must not touch the database or
  add or remove children: the statement waiting here may be using them.
- a call that makes no progress (no byte in or out) for `patience()` seconds is abandoned:
  the connection is closed at once and `DatabaseStalled`, an OperationalError, is raised,
  which the worker treats as a lost connection (reconnect, keep unrecorded endings).
- connecting goes through the same slices (psycopg wakes the connect generator every 0.1 s).

A statement that is merely slow on a healthy connection is ended first by the server's
`statement_timeout` (set a second below the patience), which keeps the connection.
"""

from __future__ import annotations

import contextvars
import select
import time
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import psycopg
from psycopg.waiting import Ready, Wait

RV = TypeVar("RV")

# How often supervision runs while a database call waits: the delay it adds to a kill at
# max_runtime, to acting on a stop signal, and to stopping children whose lease runs out.
TICK = 0.2

_POLL_MASKS = {
    Wait.R: select.POLLIN,
    Wait.W: select.POLLOUT,
    Wait.RW: select.POLLIN | select.POLLOUT,
}


class DatabaseStalled(psycopg.OperationalError):
    """No progress on the connection for too long: taken for a lost connection."""


class Guard:
    """What runs while a worker connection waits, and how long it may wait without progress."""

    def __init__(self, supervise: Callable[[], None], patience: Callable[[], float]) -> None:
        self.supervise = supervise
        self.patience = patience

    def drive(self, gen: Generator[Any, Any, RV], conn: psycopg.Connection[Any]) -> RV:
        """Runs one protocol generator of `conn` to its end, supervising while it waits."""
        fileno = conn.pgconn.socket
        progress = last_tick = time.monotonic()
        try:
            wanted = next(gen)
            poller = select.poll()
            poller.register(fileno, _POLL_MASKS[wanted])
            while True:
                events = poller.poll(int(TICK * 1000))
                now = time.monotonic()
                if events:
                    progress = now
                    wanted = gen.send(_ready(events[0][1]))
                    poller.modify(fileno, _POLL_MASKS[wanted])
                if now - last_tick >= TICK:
                    last_tick = now
                    self.supervise()
                if not events and now - progress >= self.patience():
                    gen.close()
                    # Closed, not cancelled: a cancel request needs a new connection, which
                    # would hang the same way. The server ends the statement on its own
                    # (statement_timeout) and its session when it notices the socket is gone.
                    conn.pgconn.finish()
                    raise DatabaseStalled(
                        f"no reply from the database for {now - progress:.1f}s; "
                        "closed the connection"
                    )
        except StopIteration as stop:
            result: RV = stop.value
            return result

    def watch_connect(self, gen: Generator[Any, Any, RV]) -> Generator[Any, Any, RV]:
        """Wraps a connect generator: psycopg resumes it with 0 every 0.1 s of silence."""
        progress = last_tick = time.monotonic()
        try:
            request = next(gen)
            while True:
                ready = yield request
                now = time.monotonic()
                if ready:
                    progress = now
                if now - last_tick >= TICK:
                    last_tick = now
                    self.supervise()
                if now - progress >= self.patience():
                    gen.close()
                    raise DatabaseStalled(f"no reply while connecting for {now - progress:.1f}s")
                request = gen.send(ready)
        except StopIteration as stop:
            conn: RV = stop.value
            if isinstance(conn, GuardedConnection):
                conn.guard = self
            return conn


def _ready(event: int) -> int:
    ready = 0
    if event & ~select.POLLOUT:  # readable, or an error/hang-up that a read will report
        ready |= Ready.R
    if event & ~select.POLLIN:
        ready |= Ready.W
    return ready


_connecting: contextvars.ContextVar[Guard | None] = contextvars.ContextVar(
    "pq_worker_connect_guard", default=None
)


@contextmanager
def guarding(guard: Guard) -> Iterator[None]:
    """Connections opened as `GuardedConnection` inside this block are guarded by `guard`."""
    token = _connecting.set(guard)
    try:
        yield
    finally:
        _connecting.reset(token)


class GuardedConnection(psycopg.Connection[Any]):
    """A psycopg connection whose waits go through its guard (see the module docstring)."""

    guard: Guard | None = None

    def wait(self, gen: Any, *args: Any, **kwargs: Any) -> Any:
        # Only notifies() passes its own timeout (3.3) or interval (3.2): the listener's
        # drain(timeout=0) is bounded already, and psycopg 3.2 relies on the interval to
        # return empty-handed.
        if self.guard is None or args or kwargs:
            return super().wait(gen, *args, **kwargs)
        return self.guard.drive(gen, self)

    @classmethod
    def _connect_gen(cls, *args: Any, **kwargs: Any) -> Any:
        gen = super()._connect_gen(*args, **kwargs)
        guard = _connecting.get()
        return gen if guard is None else guard.watch_connect(gen)
