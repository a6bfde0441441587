"""Killing a task's whole process tree, however its processes regrouped.

A task may start subprocesses in a session of their own (`start_new_session=True`) or
daemonize them (double fork, `setsid`): a kill of the child's process group misses them, and
once their parent exits they are no longer anyone's descendant we could find. On Linux each
task child therefore makes itself a *child subreaper* (`prctl(PR_SET_CHILD_SUBREAPER)`): an
orphan anywhere below it is re-parented to it instead of to init, so the task's whole tree
stays below the task child for as long as the child lives. At a deadline, cancel or shutdown
the parent stops the child (it can no longer fork), SIGKILLs every descendant it finds in
/proc (each SIGKILLed process can no longer fork either, and the orphans of the killed ones
come back under the stopped child), repeats until a pass finds nobody new, then kills the
child. The subreaper is the task child and not the worker, so the worker's own process (and
an app that runs a worker in-process) keeps its ordinary parenthood.

Elsewhere (macOS, BSD) there is neither the prctl nor /proc: the parent kills the child and
its process group only, and subprocesses in other groups outlive the deadline.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from contextlib import suppress
from typing import Any

_PR_SET_CHILD_SUBREAPER = 36  # from <linux/prctl.h>
_PROC = "/proc"
# A tree that keeps growing while we kill it is still bounded: every pass kills all it found,
# and a killed process forks no more, so each pass can only find children born before it.
_MAX_PASSES = 64

ON_LINUX = sys.platform.startswith("linux")


# prctl(2), looked up once in the parent at import: loading libc and building the function
# object in every child would cost it CPU and copy-on-write page faults before each task.
prctl: Any = ctypes.CDLL(None, use_errno=True).prctl if ON_LINUX else None


def become_subreaper() -> None:
    """In a task child: orphans below this process are re-parented to it, not to init."""
    if prctl is not None:
        prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def _parents() -> dict[int, list[int]]:
    """Every live (not zombie) process of the machine by parent pid, read from /proc."""
    children: dict[int, list[int]] = {}
    try:
        names = os.listdir(_PROC)
    except OSError:
        return children
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"{_PROC}/{name}/stat", "rb") as f:
                stat = f.read()
        except OSError:  # exited meanwhile, or hidden from us
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after
        # the last ')'.
        fields = stat[stat.rfind(b")") + 2 :].split()
        if len(fields) < 2 or fields[0] in (b"Z", b"X"):
            continue
        children.setdefault(int(fields[1]), []).append(int(name))
    return children


def descendants(root: int) -> list[int]:
    """The live descendants of `root` (not `root` itself), parents before their children."""
    if not ON_LINUX:
        return []
    by_parent = _parents()
    found: list[int] = []
    frontier = [root]
    while frontier:
        pid = frontier.pop()
        for child in by_parent.get(pid, ()):
            if child not in found:
                found.append(child)
                frontier.append(child)
    return found


def kill_tree(root: int) -> int:
    """SIGKILLs `root` (a child of ours), its process group and every descendant of it,
    wherever they regrouped; returns how many descendants were killed.

    `root` cannot be a reused pid: it is our child until we reap it. A descendant's pid could
    in theory be reused between reading /proc and the kill, but only after the pid space
    wrapped around within that moment.
    """
    # Stopped, the child forks no more; what it already started is found below it.
    with suppress(ProcessLookupError):
        os.kill(root, signal.SIGSTOP)
    killed: set[int] = set()
    for _ in range(_MAX_PASSES):
        new = [pid for pid in descendants(root) if pid not in killed]
        if not new:
            break
        for pid in new:
            with suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        killed.update(new)
    # The whole process group: the plain way a task's subprocesses die with it (all we
    # have off Linux).
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(root, signal.SIGKILL)
    # And the child itself by pid: a task that left its group (setpgid, setsid) is missed by
    # the group kill.
    with suppress(ProcessLookupError):
        os.kill(root, signal.SIGKILL)
    return len(killed)
