"""Waiting for tasks to end: one LISTEN connection per process, shared by every wait.

`TaskHandle.result()` in 8 threads used to hold 8 LISTEN connections (beyond the pool), and
each `await handle.aresult()` one more. Now one daemon thread LISTENs on the done channel and
wakes the waits whose task ended, blocking ones (a threading.Event) and awaiting ones (a
LoopWaker, set through their event loop) alike; it connects on the first wait and closes after
a while with nobody waiting. Behind a pooler without a direct listen URL there is no LISTEN at
all and the waits poll, starting fast and slowing down (never a fixed 5 s).
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable
from contextlib import suppress
from typing import Any, Protocol

import psycopg

from pq.store.db import PsycopgExecutor
from pq.store.queries import Queries

log = logging.getLogger("pq")

LINGER = 10.0  # seconds the LISTEN connection stays open with nobody waiting
RETRY_AFTER = 5.0  # seconds before trying to LISTEN again after a failure
POLL_FIRST, POLL_MAX = 0.05, 1.0  # a poll-only wait re-reads the row at these intervals

_listeners: weakref.WeakSet[DoneListener] = weakref.WeakSet()


class Waker(Protocol):
    """What a wait hands the listener: set() from the listening thread when its task ends."""

    def set(self) -> None: ...


class LoopWaker:
    """Wakes a wait in an event loop (`await handle.aresult()`) from the listening thread."""

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.event = asyncio.Event()  # an asyncio.Event may only be set from its own loop

    def set(self) -> None:
        with suppress(RuntimeError):  # the loop has closed: nobody is waiting any more
            self._loop.call_soon_threadsafe(self.event.set)


class DoneListener:
    """The process's LISTEN on one schema's done channel, shared by all its waits."""

    def __init__(
        self,
        connect: Callable[[], psycopg.Connection[Any]],
        queries: Queries,
        *,
        pooled_url: Callable[[], bool],
    ) -> None:
        self._connect = connect
        self._queries = queries
        self._pooled_url = pooled_url  # the URL we LISTEN on goes through a pooler: never
        self._lock = threading.Lock()
        self._watchers: dict[int, list[Waker]] = {}
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._conn: psycopg.Connection[Any] | None = None
        self._failed_at = -RETRY_AFTER
        self._stop = threading.Event()  # the running thread's; each thread gets its own
        _listeners.add(self)

    @property
    def listening(self) -> bool:
        return self._conn is not None

    def watch(self, task_id: int) -> threading.Event:
        """An event set when `task_id` ends (or the listener goes away); LISTENs first."""
        event = threading.Event()
        ready = self.add(task_id, event)
        if ready is not None:
            ready.wait(15)  # the LISTEN is in place before the caller reads the row
        return event

    def add(self, task_id: int, waker: Waker) -> threading.Event | None:
        """Registers `waker` without blocking; returns the event that is set once a LISTEN
        just started is in place (None: none was started), for the caller to wait on."""
        with self._lock:
            self._watchers.setdefault(task_id, []).append(waker)
            return self._start_if_needed()

    def unwatch(self, task_id: int, waker: Waker) -> None:
        with self._lock:
            wakers = self._watchers.get(task_id, [])
            with suppress(ValueError):
                wakers.remove(waker)
            if not wakers:
                self._watchers.pop(task_id, None)

    def retry_if_due(self) -> None:
        """Called by polling waits: listens again once a failure is old enough."""
        ready = self.restart_if_due()
        if ready is not None:
            ready.wait(15)

    def restart_if_due(self) -> threading.Event | None:
        """`retry_if_due` without blocking: returns the event to wait on, as `add` does."""
        with self._lock:
            return self._start_if_needed()

    def close(self) -> None:
        """Ends the LISTEN (within half a second); a later wait starts it again."""
        with self._lock:
            self._stop.set()
            self._thread = None

    # -- the listening thread ----------------------------------------------------------------
    def _start_if_needed(self) -> threading.Event | None:
        """Under the lock: starts the thread unless it runs or failed just now."""
        if self._thread is not None or self._pooled_url():
            return None
        if time.monotonic() - self._failed_at < RETRY_AFTER:
            return None
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(self._stop,), name="pq-result-listener", daemon=True
        )
        self._thread.start()
        return self._ready

    def _run(self, stop: threading.Event) -> None:
        conn = self._open()
        self._ready.set()
        if conn is None:
            return
        try:
            self._listen_until_idle(conn, stop)
        except psycopg.Error as exc:
            # After close() the session was ending anyway (e.g. its database dropped in the
            # half second close() allows): nothing is lost, so nothing to warn about.
            if not stop.is_set():
                log.warning("result listener lost its connection (%s); waits poll meanwhile", exc)
                self._failed_at = time.monotonic()
        finally:
            with self._lock:
                if self._conn is conn:
                    self._conn = None
                if self._thread is threading.current_thread():
                    self._thread = None
                for wakers in self._watchers.values():
                    for waker in wakers:
                        waker.set()  # re-read now, then poll or listen again
            with suppress(Exception):
                conn.close()

    def _open(self) -> psycopg.Connection[Any] | None:
        try:
            conn = self._connect()
        except Exception as exc:  # the database is down: the waits poll, and say why once
            log.warning("cannot LISTEN for task ends (%s); result waits poll", exc)
            with self._lock:
                self._failed_at, self._thread = time.monotonic(), None
            return None
        if self._pooled_url():  # just detected: LISTEN through a pooler would hear nothing
            conn.close()
            with self._lock:
                self._thread = None
            return None
        self._queries.listen_done(PsycopgExecutor(conn))
        self._conn = conn
        return conn

    def _listen_until_idle(self, conn: psycopg.Connection[Any], stop: threading.Event) -> None:
        idle_since = time.monotonic()
        while not stop.is_set():
            for notice in conn.notifies(timeout=0.5):
                self._dispatch(notice.payload)
            with self._lock:
                if self._watchers:
                    idle_since = time.monotonic()
                elif time.monotonic() - idle_since > LINGER:
                    self._conn = self._thread = None  # a later wait starts a new thread
                    return

    def _dispatch(self, payload: str) -> None:
        task_id, _, _ = payload.partition(":")  # untrusted text: only ever compared
        if not task_id.isdigit():
            return
        with self._lock:
            for waker in self._watchers.get(int(task_id), []):
                waker.set()


def _forget_in_child() -> None:
    # The thread did not survive the fork and the connection is the parent's: drop both
    # (never close: that would end the parent's session).
    for listener in list(_listeners):
        listener._lock = threading.Lock()
        listener._thread = None
        listener._conn = None
        listener._watchers = {}


os.register_at_fork(after_in_child=_forget_in_child)
