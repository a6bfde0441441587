"""One listening worker per queue set on a machine: the listener slot.

Postgres signals every session that LISTENs in a database on every NOTIFY, whatever its
channel, and each one reads it in a short transaction of its own. With N workers every notice
cost N such transactions, and N claims of which one found the row. Now, of the workers of one
machine that serve the same queues (same database, schema, queues and priorities), one holds
the slot and LISTENs; the others keep their LISTEN connection open but subscribed to nothing.
The holder relays to them what they must hear at once (cancels, pauses), over the slot.

The slot is an abstract Unix socket named after the queue set. Binding it takes the slot;
the others connect to it ("watchers") and say whether they have a free task slot ("idle").
The holder lets go when all its own task slots have been busy for `HANDOVER_AFTER` while a
watcher is idle, when it stops or cannot claim (a lost connection), or when it dies, kill -9
included: the kernel resets every watcher's connection the moment the socket closes. Each
watcher then tries to bind it (busy ones a moment later, so that an idle one wins): one wins,
LISTENs and claims once (rows that arrived while nobody listened), the others watch the new
holder. Nothing of this touches the database, so waiting costs no commit and holds no
snapshot (a session blocked in pg_advisory_lock holds one, and with it back vacuum and the
claim's index clean-up, for as long as it waits). Forked children close their copies at once
(`fds`): a copy would keep the socket bound after the holder let go.

Workers on other machines (or in other network namespaces, one per container) have slots of
their own: a fleet of M machines has M listeners per queue set, not one per worker.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import os
import socket
import struct

log = logging.getLogger("pq.worker")

# A holder whose task slots have all been busy this long hands the slot to an idle watcher:
# long enough that a stream of short tasks stays with one worker (each handover costs a
# LISTEN, an UNLISTEN and a claim), short enough that a task arriving while the holder runs
# long ones waits about this long for an idle worker, not for a poll.
HANDOVER_AFTER = 0.02
# A holder seen between its bind and its listen: look again this soon.
RETRY_AFTER = 0.005
# After the holder let go, a busy watcher (or the holder that let go) tries to take the slot
# this much later than an idle one, which (free to claim) should win it.
BUSY_DELAY = 0.05
_BACKLOG = 4096
_IDLE, _BUSY = b"i", b"b"  # watcher -> holder, the last byte sent is the state
_SEP = b"\0"  # holder -> watcher: payloads of relayed notices (Postgres text has no NUL)


def slot_address(*parts: str) -> str:
    """The abstract socket name of one queue set (with the uid: users do not share slots)."""
    digest = hashlib.sha256("\0".join(parts).encode()).hexdigest()[:40]
    return f"\0pq-listener-{os.getuid()}-{digest}"


class ListenerSlot:
    """This worker's side of one queue set's slot: holding it, or watching its holder."""

    def __init__(self, address: str) -> None:
        self.address = address
        self._bound: socket.socket | None = None  # we hold the slot
        self._watchers: dict[int, tuple[socket.socket, bool]] = {}  # holder: fd -> (conn, idle)
        self._watch: socket.socket | None = None  # connected to the holder
        self._reported: bytes = b""
        self._partial = b""
        self.retry_at = 0.0
        self.handovers = 0  # times this worker let the slot go to an idle watcher

    @property
    def held(self) -> bool:
        return self._bound is not None

    @property
    def watching(self) -> bool:
        """Another live worker holds the slot and we will hear when it lets go."""
        return self._watch is not None

    @property
    def idle_watchers(self) -> bool:
        """Holder: a watcher said it has a free task slot."""
        return any(idle for _, idle in self._watchers.values())

    def watch_fd(self) -> int | None:
        return self._watch.fileno() if self._watch is not None else None

    def fds(self) -> list[int]:
        """The descriptors a forked child must close (a copy would keep the slot held)."""
        socks = [self._bound, self._watch, *(conn for conn, _ in self._watchers.values())]
        return [s.fileno() for s in socks if s is not None]

    # -- taking and letting go ---------------------------------------------------------------
    def take(self, now: float, idle: bool) -> int | None:
        """Holds the slot if it is free; else watches its holder. Returns the descriptor the
        caller's selector must watch: the bound socket (watchers connecting) or the watch
        connection (relayed notices, the holder going); None if neither is new."""
        if self._bound is not None or self._watch is not None or now < self.retry_at:
            return None
        bound = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            bound.bind(self.address)
            bound.listen(_BACKLOG)
        except OSError as exc:
            bound.close()
            if exc.errno != errno.EADDRINUSE:
                raise
        else:
            bound.setblocking(False)
            self._bound = bound
            return bound.fileno()
        watch = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        watch.setblocking(False)
        try:
            watch.connect(self.address)
        except OSError:  # between the holder's bind and listen, or it just went: look again
            watch.close()
            self.retry_at = now + RETRY_AFTER
            return None
        if _peer_uid(watch) != os.getuid():
            # Anyone may bind an abstract name: a holder that is not one of ours would leave
            # every worker of ours waiting and none listening. Listen regardless.
            watch.close()
            log.warning("the listener slot %r is held by another user", self.address[1:])
            self._bound = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)  # never bound
            return None
        self._watch, self._reported, self._partial = watch, b"", b""
        self.report(idle)
        return None if self._watch is None else watch.fileno()

    def release(self) -> list[int]:
        """Lets the slot go: every watcher's connection resets at once. Returns the closed
        descriptors, for the caller's selector."""
        closed = []
        for fd, (conn, _) in self._watchers.items():
            conn.close()
            closed.append(fd)
        self._watchers.clear()
        if self._bound is not None:
            closed.append(self._bound.fileno())
            with contextlib.suppress(OSError):
                self._bound.close()
            self._bound = None
        return closed

    def close(self) -> list[int]:
        closed = self.release()
        fd = self.watch_fd()
        if fd is not None:
            closed.append(fd)
        self.vacated(0.0, 0.0)
        return closed

    # -- the holder's side -------------------------------------------------------------------
    def accept(self) -> list[int]:
        """Takes in the workers that started watching; returns their descriptors, for the
        caller's selector (`from_watcher` when they are readable)."""
        new: list[int] = []
        while self._bound is not None:
            try:
                conn, _ = self._bound.accept()
            except (BlockingIOError, InterruptedError):
                break
            if _peer_uid(conn) != os.getuid():  # not one of ours (the name has our uid)
                conn.close()
                continue
            conn.setblocking(False)
            self._watchers[conn.fileno()] = (conn, False)
            new.append(conn.fileno())
        return new

    def from_watcher(self, fd: int) -> bool:
        """Reads a watcher's state; False when it went away (its descriptor is closed)."""
        conn, _ = self._watchers.get(fd, (None, False))
        if conn is None:
            return False
        try:
            data = conn.recv(4096)
        except BlockingIOError:
            return True
        except OSError:
            data = b""
        if not data:
            self._drop(fd)
            return False
        self._watchers[fd] = (conn, data[-1:] == _IDLE)
        return True

    def relay(self, payloads: list[str]) -> list[int]:
        """Sends notices to every watcher; returns the descriptors of those dropped (a full
        buffer: a watcher that does not read is taken for gone)."""
        if not payloads or not self._watchers:
            return []
        data = b"".join(p.encode() + _SEP for p in payloads)
        dropped = []
        for fd, (conn, _) in list(self._watchers.items()):
            try:
                sent = conn.send(data)
            except OSError:
                sent = -1
            if sent != len(data):
                self._drop(fd)
                dropped.append(fd)
        return dropped

    def _drop(self, fd: int) -> None:
        conn, _ = self._watchers.pop(fd, (None, False))
        if conn is not None:
            conn.close()

    # -- the watcher's side ------------------------------------------------------------------
    def report(self, idle: bool) -> None:
        """Tells the holder whether we have a free task slot (only when it changed)."""
        state = _IDLE if idle else _BUSY
        if self._watch is None or state == self._reported:
            return
        try:
            self._watch.send(state)
        except BlockingIOError:
            return  # the holder does not read: it will be taken for gone soon enough
        except OSError:
            return  # it went: the selector reports it
        self._reported = state

    def from_holder(self) -> tuple[list[str], bool]:
        """Reads what the holder relayed: (payloads, whether it let go or died)."""
        if self._watch is None:
            return [], True
        try:
            data = self._watch.recv(65536)
        except BlockingIOError:
            return [], False
        except OSError:
            data = b""
        if not data:
            return [], True
        *whole, self._partial = (self._partial + data).split(_SEP)
        return [p.decode(errors="replace") for p in whole], False

    def vacated(self, now: float, delay: float) -> None:
        """The holder's socket closed (or reset): the slot may be free from `now + delay`."""
        if self._watch is not None:
            with contextlib.suppress(OSError):
                self._watch.close()
            self._watch = None
        self.retry_at = now + delay


def _peer_uid(sock: socket.socket) -> int:
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return int(struct.unpack("3i", creds)[1])
