"""CPU by part for the throughput figures: this process, its children, the Postgres server.

`os.times()` splits this process's own CPU from its reaped children's; the server's CPU is
read from /proc: the postmaster's own and reaped children's time (a backend that exited is
counted there) plus the live backends'. That needs the server on this host (the embedded one,
or a local server readable by this user); otherwise the server column is left out.
"""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psycopg

_TICK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Parts:
    """Seconds spent by each part while a measured function ran."""

    wall: float
    parent: float
    child: float
    server: float | None
    parent_faults: int = 0  # minor page faults: copy-on-write after each fork, mostly
    child_faults: int = 0

    def per_item_ms(self, count: int) -> tuple[float, float, float | None]:
        server = None if self.server is None else self.server / count * 1000
        return self.parent / count * 1000, self.child / count * 1000, server

    def faults_per_item(self, count: int) -> tuple[float, float]:
        """Page faults per item, of this process and of its children: unlike CPU time,
        they do not depend on the machine's load."""
        return self.parent_faults / count, self.child_faults / count


def _stat_times(pid: int) -> tuple[int, int, int, int, int]:
    """(ppid, utime, stime, cutime, cstime), times in clock ticks, from /proc/<pid>/stat."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rindex(")") + 2 :].split()  # the command name may hold spaces
    ppid = int(fields[1])
    utime, stime, cutime, cstime = (int(f) for f in fields[11:15])
    return ppid, utime, stime, cutime, cstime


class ServerClock:
    """The Postgres server's CPU seconds so far (all its processes, live and exited)."""

    def __init__(self, database_url: str) -> None:
        self.postmaster: int | None = None
        with psycopg.connect(database_url) as conn:
            row = conn.execute("SELECT pg_backend_pid()").fetchone()
            try:  # while the backend lives: once closed, its /proc entry may be gone
                backend = int(row[0]) if row else 0
                self.postmaster = _stat_times(backend)[0]
                self.read()
            except (OSError, ValueError, IndexError):
                self.postmaster = None  # a remote server, or one this user cannot read

    def read(self) -> float | None:
        if self.postmaster is None:
            return None
        _, utime, stime, cutime, cstime = _stat_times(self.postmaster)
        ticks = utime + stime + cutime + cstime
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                ppid, utime, stime, _, _ = _stat_times(int(entry.name))
            except (OSError, ValueError, IndexError):
                continue  # exited meanwhile: its time is in the postmaster's cutime now
            if ppid == self.postmaster:
                ticks += utime + stime
        return ticks / _TICK


def measure(fn: Callable[[], object], server: ServerClock) -> Parts:
    """Runs fn once and splits the CPU it cost between this process, children and server."""
    before, server_before = os.times(), server.read()
    faults_before = _faults()
    started = time.perf_counter()
    fn()
    wall = time.perf_counter() - started
    after = os.times()
    faults_after = _faults()
    time.sleep(0.2)  # let the postmaster reap backends that just closed (their time moves)
    server_after = server.read()
    return Parts(
        wall=wall,
        parent=(after.user - before.user) + (after.system - before.system),
        child=(after.children_user - before.children_user)
        + (after.children_system - before.children_system),
        server=None
        if server_before is None or server_after is None
        else server_after - server_before,
        parent_faults=faults_after[0] - faults_before[0],
        child_faults=faults_after[1] - faults_before[1],
    )


def _faults() -> tuple[int, int]:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    return own, resource.getrusage(resource.RUSAGE_CHILDREN).ru_minflt
