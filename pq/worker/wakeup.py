"""What the worker parent sleeps on: signals, notifications and its children's pipes.

One selector waits on all three, so an idle worker uses no CPU and still reacts within
milliseconds to an enqueue (NOTIFY), a child ending (SIGCHLD / pipe EOF) or a stop signal.
"""

from __future__ import annotations

import contextlib
import logging
import os
import selectors
import signal
from collections.abc import Callable
from types import FrameType
from typing import Any

import psycopg

log = logging.getLogger("pq.worker")

_WATCHED = (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT)


class SignalPipe:
    """Turns signals into bytes on a pipe the selector watches (signal.set_wakeup_fd)."""

    def __init__(self, on_stop: Callable[[int], None]) -> None:
        self._on_stop = on_stop
        self.read_fd, self._write_fd = os.pipe()
        os.set_blocking(self.read_fd, False)
        os.set_blocking(self._write_fd, False)
        self._previous: dict[int, Any] = {}
        self._previous_fd = -1

    def install(self) -> None:
        self._previous_fd = signal.set_wakeup_fd(self._write_fd, warn_on_full_buffer=False)
        for signum in _WATCHED:
            self._previous[signum] = signal.signal(signum, self._handle)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if signum != signal.SIGCHLD:
            self._on_stop(signum)

    def drain(self) -> None:
        try:
            while os.read(self.read_fd, 4096):
                pass
        except BlockingIOError:
            pass

    def restore(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        signal.set_wakeup_fd(self._previous_fd)
        os.close(self.read_fd)
        os.close(self._write_fd)


class Listener:
    """The LISTEN connection; `drain()` returns the payloads that arrived."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn
        # Kept: once the server drops the session, psycopg can no longer tell the socket, but
        # the selector still needs the number to unregister it.
        self._fd = conn.fileno()

    def fileno(self) -> int:
        return self._fd

    def drain(self) -> list[str]:
        return [n.payload for n in self.conn.notifies(timeout=0)]


class Waiter:
    """A selector over the signal pipe, the listener and each child's report pipe."""

    SIGNALS = "signals"
    LISTENER = "listener"

    def __init__(self) -> None:
        self.selector = selectors.DefaultSelector()

    def watch(self, fd: int, tag: Any) -> None:
        self.selector.register(fd, selectors.EVENT_READ, tag)

    def unwatch(self, fd: int) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(fd)

    def wait(self, timeout: float) -> list[Any]:
        """The tags of everything ready within `timeout` seconds."""
        return [key.data for key, _ in self.selector.select(max(0.0, timeout))]

    def close(self) -> None:
        self.selector.close()
