"""The fork server: a small process beside the worker loop that forks the task children.

Why: after every `fork()`, each page the forking process writes faults again (copy-on-write)
and is copied while a child still shares it. The worker parent's loop turn (reaping,
recording, the claim through psycopg) writes to hundreds of pages of its heap, so a parent
that forks pays some 400 page faults per task. The fork server is forked once from the
parent, before the worker opens its connections (so neither it nor its children hold them),
with the app imported and its state final; after that it only reads a request and forks,
so it writes a few pages between forks, as a bare fork loop does, and the parent, which no
longer forks, writes its own pages without faulting.

Each child it forks waits on its handoff pipe for one row (pq/worker/child.py `run_spare`
with served=True), runs it, reports on its report pipe and exits. Every task still runs in a fresh
child of its own; the child is a copy of the fork server, which is a copy of the parent at
start, so it sees the same app.

One SOCK_SEQPACKET socket pair, one message per datagram:
- parent -> server: `F` (fork a child), `K` + pid (kill that child's process tree).
- server -> parent: `F` + pid, with two fds: the handoff pipe's write end and the report
  pipe's read end (the server keeps neither); `X` + pid, wait status, peak RSS and CPU when
  a child ended (the server is its parent and reaps it with wait4); `K` + pid + how many
  processes the kill found below the child.

Kills go through the server because it is the children's parent: until it reaps a child,
that pid cannot be reused, so a kill never reaches another process (as in pq/worker/tree.py).

Lifetime: the server gets SIGKILL when the worker parent dies (PR_SET_PDEATHSIG) and each
child gets SIGKILL when the server dies, so a `kill -9` of the worker leaves no task running.
The server ignores SIGTERM, SIGINT and SIGHUP: a terminal's Ctrl-C or systemd's stop signal
to the whole control group must not end it (its children would die with it before the
drain); its children restore the default handlers. EOF on its socket (the parent closed it,
or died) makes it kill what is left, reap it and exit. Linux only (pidfds, PDEATHSIG).
"""

from __future__ import annotations

import array
import gc
import importlib
import logging
import os
import select
import signal
import socket
import struct
import sys
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from typing import Any, NoReturn

from pq.worker.tree import ON_LINUX, kill_tree, prctl

log = logging.getLogger("pq.worker")

_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
_FORKED = struct.Struct("=ci")  # b"F", pid
_ENDED = struct.Struct("=ciiqdd")  # b"X", pid, wait status, ru_maxrss (KiB), utime, stime
_KILLED = struct.Struct("=cii")  # b"K", pid, processes killed below it
# How long the parent waits for a fork it asked for before it takes the server for broken
# (killing it, which kills its children) and forks its children itself again.
SPAWN_PATIENCE = 10.0
# Children the server keeps forked and waiting for a row: the fork of the next task's child
# overlaps the parent's loop turn instead of following it.
AHEAD = 2
TAG = "fork server"  # the parent's selector tag of the server's socket
_signal: Any = importlib.import_module("_signal")  # see pq/worker/child.py: no enum wrapper


def available() -> bool:
    return ON_LINUX and prctl is not None and hasattr(os, "pidfd_open")


@dataclass(frozen=True)
class Ended:
    """A child of the server that ended, as the server's wait4 saw it."""

    pid: int
    status: int
    max_rss_kib: int
    cpu_seconds: float


@dataclass(frozen=True)
class Killed:
    pid: int
    count: int


class ForkServer:
    """The parent's side: asks for children, for kills, and reads what ended.

    It keeps `ahead` children forked and waiting (asked for before they are needed), so a
    task starts by writing its row to one while the server forks the next in parallel. A
    child forked ahead is exactly as fresh as one forked on demand: the server's state never
    changes after it starts.
    """

    def __init__(self, pid: int, sock: socket.socket, ahead: int) -> None:
        self.pid = pid
        self.sock = sock
        self.ahead = ahead
        self.broken = False
        self.events: list[Ended | Killed] = []
        self.ready: list[tuple[int, int, int]] = []  # (pid, handoff fd, report fd)
        self.asked = 0  # forks asked for and not answered yet

    @classmethod
    def start(
        cls, run: Callable[[int, int, int], None], prepare: Callable[[], None], *, ahead: int = 1
    ) -> ForkServer:
        """Forks the server. In it, `prepare()` runs once (what every child would otherwise
        redo), and `run(handoff_fd, report_fd, server_pid)` is each child's whole life."""
        parent_end, server_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        # Flushed now, so neither the server nor its children print the parent's buffer again.
        sys.stdout.flush()
        sys.stderr.flush()
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:  # the server: never returns
            try:
                parent_end.close()
                _serve(server_end, run, prepare, parent)
            finally:
                os._exit(70)
        server_end.close()
        server = cls(pid, parent_end, ahead)
        server._top_up()
        return server

    def fileno(self) -> int:
        return self.sock.fileno()

    def spawn(self) -> tuple[int, int, int] | None:
        """A waiting child: (pid, handoff write fd, report read fd); None if the server is
        broken (then the caller forks itself)."""
        if not self.ready and not self.asked:
            self._ask()
        while not self.ready and not self.broken:
            if not select.select([self.sock], [], [], SPAWN_PATIENCE)[0]:
                self.fail(f"it did not answer a fork within {SPAWN_PATIENCE:g}s")
            self._receive()
        if self.broken:
            return None
        spawned = self.ready.pop(0)
        self._top_up()
        return spawned

    def _ask(self) -> None:
        try:
            self.sock.send(b"F")
            self.asked += 1
        except OSError as exc:
            self.fail(str(exc))

    def _top_up(self) -> None:
        while not self.broken and len(self.ready) + self.asked < self.ahead:
            self._ask()

    def kill(self, pid: int) -> None:
        """Asks the server to kill one child's process tree; the count comes back later."""
        if not self.broken:
            try:
                self.sock.send(b"K" + struct.pack("=i", pid))
            except OSError as exc:
                self.fail(str(exc))

    def poll(self, *, block: bool = False) -> list[Ended | Killed]:
        """What the server reported since the last call; with `block`, waits for at least
        one report (or for the server to break)."""
        self._receive()
        while block and not self.events and not self.broken:
            select.select([self.sock], [], [], SPAWN_PATIENCE)
            self._receive()
        events, self.events = self.events, []
        return events

    def _receive(self) -> None:
        """Reads every message waiting on the socket, without blocking."""
        while not self.broken:
            try:
                data, fds = _recv_fds(self.sock)
            except BlockingIOError:
                return
            except OSError as exc:
                self.fail(str(exc))
                return
            kind = data[:1]
            if kind == b"F" and len(fds) == 2:
                self.asked -= 1
                self.ready.append((_FORKED.unpack(data)[1], fds[0], fds[1]))
                continue
            for fd in fds:  # never sent with anything else; do not leak them
                os.close(fd)
            if kind == b"X":
                _, pid, status, rss, utime, stime = _ENDED.unpack(data)
                self.events.append(Ended(pid, status, rss, round(utime + stime, 6)))
            elif kind == b"K":
                _, pid, count = _KILLED.unpack(data)
                self.events.append(Killed(pid, count))
            elif not data:
                self.fail("it closed its socket")

    def fail(self, why: str) -> None:
        """Takes the server for broken: it is killed (its children die with it)."""
        if not self.broken:
            self.broken = True
            log.error("the fork server failed (%s): the worker forks its children itself", why)
            with suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)

    def close(self) -> None:
        """Ends the server: it kills what is left (the children forked ahead, idle), reaps
        them and exits; then it is reaped here."""
        for _, handoff_fd, report_fd in self.ready:
            os.close(handoff_fd)
            os.close(report_fd)
        self.ready.clear()
        self.sock.close()
        with suppress(ChildProcessError):
            os.waitpid(self.pid, 0)


def _recv_fds(sock: socket.socket) -> tuple[bytes, list[int]]:
    """One message and the fds it carries, without blocking (socket.recv_fds of Python 3.11
    drops its `flags` argument, so it would block)."""
    fds = array.array("i")
    data, ancillary, _, _ = sock.recvmsg(64, socket.CMSG_LEN(2 * fds.itemsize), socket.MSG_DONTWAIT)
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(payload[: len(payload) - len(payload) % fds.itemsize])
    return data, list(fds)


# -- the server's side (a forked process) -----------------------------------------------------


def _become_server(parent: int, prepare: Callable[[], None]) -> None:
    # The parent's handlers (stop flags, its wakeup pipe) mean nothing here, and a stop
    # signal must not end the server while its children drain.
    signal.set_wakeup_fd(-1)
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        _signal.signal(int(signum), _signal.SIG_IGN)
    _signal.signal(int(signal.SIGCHLD), _signal.SIG_DFL)
    prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    if os.getppid() != parent:  # the parent died before the signal was armed
        os._exit(70)
    prepare()
    # Every object that exists now is never collected by the children, so their GC does not
    # touch (and copy) the pages they share with the server.
    gc.freeze()


def _serve(
    sock: socket.socket,
    run: Callable[[int, int, int], None],
    prepare: Callable[[], None],
    parent: int,
) -> NoReturn:
    _become_server(parent, prepare)
    me = os.getpid()
    sock_fd = sock.fileno()
    poller = select.poll()
    poller.register(sock_fd, select.POLLIN)
    # A pidfd per live child: readable once it has exited, so no SIGCHLD handler runs here.
    children: dict[int, int] = {}  # pidfd -> pid
    try:
        while True:
            for fd, _ in poller.poll():
                if fd != sock_fd:
                    _reap(sock, poller, children, fd)
                    continue
                data = sock.recv(64)
                if not data:
                    raise EOFError
                if data[:1] == b"F":
                    _fork(sock, poller, children, run, me)
                elif data[:1] == b"K":
                    _kill(sock, children, struct.unpack_from("=i", data, 1)[0])
    except BaseException:  # EOF, or the parent is gone: leave no child behind
        for pid in children.values():
            kill_tree(pid)
        for pid in children.values():
            with suppress(ChildProcessError):
                os.waitpid(pid, 0)
    os._exit(0)


def _fork(
    sock: socket.socket,
    poller: select.poll,
    children: dict[int, int],
    run: Callable[[int, int, int], None],
    me: int,
) -> None:
    handoff_read, handoff_write = os.pipe()
    report_read, report_write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        try:
            os.close(handoff_write)
            os.close(report_read)
            sock.close()
            for fd in children:  # its siblings' pidfds
                os.close(fd)
            run(handoff_read, report_write, me)
        finally:
            os._exit(70)
    os.close(handoff_read)
    os.close(report_write)
    # (The child makes its own process group once it has its row: a kill goes through
    # kill_tree here, which kills by pid too, so it works before that.)
    pidfd = os.pidfd_open(pid)
    children[pidfd] = pid
    poller.register(pidfd, select.POLLIN)
    socket.send_fds(sock, [_FORKED.pack(b"F", pid)], [handoff_write, report_read])
    # The parent has its own copies now; the next child must not inherit these.
    os.close(handoff_write)
    os.close(report_read)


def _reap(sock: socket.socket, poller: select.poll, children: dict[int, int], pidfd: int) -> None:
    pid = children.pop(pidfd)
    poller.unregister(pidfd)
    os.close(pidfd)
    _, status, usage = os.wait4(pid, 0)
    cpu = usage.ru_utime, usage.ru_stime
    sock.send(_ENDED.pack(b"X", pid, status, usage.ru_maxrss, *cpu))


def _kill(sock: socket.socket, children: dict[int, int], pid: int) -> None:
    if pid not in children.values():
        return  # ended already: its X is on the way (never a kill of a reused pid)
    sock.send(_KILLED.pack(b"K", pid, kill_tree(pid)))
