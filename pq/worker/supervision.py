"""Forking a child per task, reading its report, reaping it, and killing it when due.

The only code that forks. Everything a child inherits is final when `_fork` runs: the loop
forks only after the claim's transaction has committed and buffers were flushed.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import time
from contextlib import suppress
from typing import Any

from pq.models import OutcomeKind
from pq.worker import forkserver, handoff
from pq.worker.attempt import Child, finish_record, log_outcome, parse_report
from pq.worker.child import EXIT_REPORT_FAILED, prepare, run_child, run_spare
from pq.worker.forkserver import Ended, ForkServer
from pq.worker.limits import Limits
from pq.worker.outcome import KillReason, Outcome, Usage, classify, usage_of
from pq.worker.recording import Recording
from pq.worker.rowcheck import row_problem
from pq.worker.tree import kill_tree

log = logging.getLogger("pq.worker")


# What a child of a fork server that died is recorded with, when it had not reported.
_LOST_REPORT = json.dumps(
    {
        "ok": False,
        "kind": OutcomeKind.CRASH.value,
        "error": "the worker's fork server died, and the task's child with it",
    }
).encode()

_STOP_SIGNALS = frozenset({signal.SIGTERM, signal.SIGINT})


def _died_of_stop_signal(status: int) -> bool:
    return os.WIFSIGNALED(status) and os.WTERMSIG(status) in _STOP_SIGNALS


class Supervision(Recording):
    def _limits_of(self, row: dict[str, Any]) -> tuple[float | None, Limits]:
        max_runtime = row["options"].get("max_runtime") or self.settings.max_runtime
        limits = Limits.for_task(row["options"], self.settings.max_memory, self.settings.max_cpu)
        return max_runtime, limits

    def _refused(self, row: dict[str, Any]) -> bool:
        """A row that cannot run fails here, before any child (forked or spare) sees it."""
        problem = row_problem(row)
        if problem is not None:
            self._refuse(row, problem)
        return problem is not None

    def _fork(self, row: dict[str, Any]) -> None:
        if self._refused(row):
            return
        max_runtime, limits = self._limits_of(row)
        if self.fork_server is not None and self._fork_via_server(row, max_runtime, limits):
            return
        prepare(self.runtime, row["name"])  # once per function, inherited by every child
        read_fd, write_fd = os.pipe()
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:  # the child: never returns
            try:
                os.close(read_fd)
                self._drop_spare_ends()
                run_child(self.runtime, row, write_fd, self.hooks, limits, parent=parent)
            finally:
                os._exit(70)
        os.close(write_fd)
        self._started(Child(pid, row, read_fd, time.monotonic(), max_runtime, limits))

    def _started(self, child: Child) -> None:
        if not child.via_server:  # (the server sets its own children's)
            # Both sides set the process group, so it is in place whichever runs first.
            with suppress(OSError):
                os.setpgid(child.pid, child.pid)
        os.set_blocking(child.read_fd, False)
        self.children[child.pid] = child
        self.waiter.watch(child.read_fd, child)

    def _drop_spare_ends(self) -> None:
        """In a new child: close the parent's ends of the spares' handoff pipes, so that a
        spare sees EOF (and exits) when the parent dies, whoever outlives it."""
        ends = [s.handoff_fd for s in self.spares]
        ends += [c.handoff_fd for c in self.children.values() if c.handoff_fd >= 0]
        if self.fork_server is not None:  # nor is the fork server, nor its children
            ends.append(self.fork_server.fileno())
            ends += [fd for _, *fds in self.fork_server.ready for fd in fds]
        if self.slot is not None:  # a copy of the listener slot would keep it held
            ends += self.slot.fds()
        for fd in ends:
            with suppress(OSError):
                os.close(fd)

    def _refuse(self, row: dict[str, Any], problem: str) -> None:
        """Fails a row that cannot run, without forking; retrying it could not help."""
        outcome = Outcome(OutcomeKind.EXCEPTION, error=f"the task cannot run: {problem}")
        usage = Usage(duration=0.0, max_rss_kib=None, cpu_seconds=None)
        record = {**finish_record(row, outcome, usage), "status": "failed", "retry_at": None}
        self._add_finished(record)
        self.processed += 1
        log_outcome(row, outcome, usage)

    def _read_report(self, child: Child) -> None:
        if not child.read_available():
            self.waiter.unwatch(child.read_fd)
            child.close_pipe()

    def _reap(self, *, block: bool = False) -> None:
        if self.fork_server is not None and self._reap_via_server(block=block) and block:
            return
        while self.children or self.spares or self.retired:
            try:
                pid, status, rusage = os.wait4(-1, 0 if block else os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if self.fork_server is not None and pid == self.fork_server.pid:
                self._server_lost(reaped=True)
                continue
            child = self.children.pop(pid, None)
            if child is not None:
                self._collect(child, status, usage_of(rusage, time.monotonic() - child.started))
            else:
                self._forget_idle(pid)
            if block:
                return

    def _collect(self, child: Child, status: int, usage: Usage) -> None:
        # The child has exited, so everything it wrote is in the pipe; a grandchild may still
        # hold the write end open, so read what is there instead of waiting for EOF.
        child.read_available()
        self.waiter.unwatch(child.read_fd)
        child.close_pipe()
        report = parse_report(child.report)  # not copied: a result may be large
        killed_for = child.killed_for
        if killed_for is None and self.stopping and _died_of_stop_signal(status):
            # The stop signal reached the task too (systemd's control-group kill, a signal to
            # a process group): an interruption like a drain's kill, not a crash of the task.
            killed_for = KillReason.SHUTDOWN
        outcome = classify(status, report, killed_for, max_runtime=child.max_runtime)
        self._add_finished(finish_record(child.row, outcome, usage))
        self.processed += 1
        log_outcome(child.row, outcome, usage)
        self.metrics.task_ended(
            child.row, outcome.kind.value, usage.duration, (usage.max_rss_kib or 0) * 1024
        )

    def _forget_idle(self, pid: int) -> None:
        """A child that had no task ended: a retired spare, or one that died waiting."""
        self.retired.discard(pid)
        for spare in self.spares:
            if spare.pid == pid:
                self.spares.remove(spare)
                for fd in (spare.handoff_fd, spare.read_fd):
                    with suppress(OSError):
                        os.close(fd)
                return

    def _enforce_deadlines(self) -> None:
        now = time.monotonic()
        for child in self.children.values():
            if child.killed_for is not None:
                continue
            deadline = child.deadline
            if deadline is not None and now >= deadline:
                self._kill(child, KillReason.TIMEOUT)
            elif self.kill_now or (self.stopping and now >= self.stop_deadline):
                self._kill(child, KillReason.SHUTDOWN)

    def _cancel_running(self, task_id: int) -> None:
        for child in self.children.values():
            if child.row["id"] == task_id and child.killed_for is None:
                log.info("task %s: cancelled while running, killing its child", task_id)
                self._kill(child, KillReason.CANCEL)

    def _kill(self, child: Child, reason: KillReason) -> None:
        child.killed_for = reason
        if child.via_server:  # its parent kills it: a pid it has not reaped is never reused
            if self.fork_server is not None:
                self.fork_server.kill(child.pid)
            return
        # The child, its process group and every descendant, however they regrouped
        # (pq/worker/tree.py).
        killed = kill_tree(child.pid)
        if killed:
            log.info("task %s: killed %d process(es) the task had started", child.row["id"], killed)

    # -- the fork server (pq/worker/forkserver.py) ---------------------------------------------
    def _start_fork_server(self) -> None:
        """Before the worker opens its connections: the server and its children hold none."""
        if not self.settings.fork_server or self.max_tasks == 1:
            return  # (run_worker_once: a server and its children ahead for one task cost more)
        if not forkserver.available():
            log.warning("no fork server on this platform (it needs Linux): forking in the loop")
            return
        self.fork_server = ForkServer.start(
            self._server_child, self._server_prepare, ahead=forkserver.AHEAD
        )
        self.waiter.watch(self.fork_server.fileno(), forkserver.TAG)

    def _server_prepare(self) -> None:
        """In the server, once: what `prepare` would do before each fork of a child."""
        for name in list(self.runtime.registry):
            prepare(self.runtime, name)

    def _server_child(self, handoff_fd: int, report_fd: int, server: int) -> None:
        run_spare(self.runtime, handoff_fd, report_fd, self.hooks, parent=server, served=True)

    def _fork_via_server(
        self, row: dict[str, Any], max_runtime: float | None, limits: Limits
    ) -> bool:
        """A fresh child from the fork server, given its row on its handoff pipe."""
        message = handoff.encode(row, limits)
        while self.fork_server is not None:
            spawned = self.fork_server.spawn()
            if spawned is None:
                self._server_lost(reaped=False)
                return False
            pid, handoff_fd, read_fd = spawned
            try:
                handoff.send(handoff_fd, message)
            except OSError:  # it died waiting (its end is reported, and ignored): the next
                os.close(read_fd)
                continue
            finally:
                os.close(handoff_fd)  # one row only: EOF if it ever asks again
            child = Child(pid, row, read_fd, time.monotonic(), max_runtime, limits)
            child.via_server = True
            self._started(child)
            return True
        return False

    def _reap_via_server(self, *, block: bool) -> bool:
        """Collects the server's children that ended; returns whether `block` waited here."""
        assert self.fork_server is not None
        waiting = block and any(c.via_server for c in self.children.values())
        for event in self.fork_server.poll(block=waiting):
            child = self.children.get(event.pid)
            if child is None:
                continue  # a child that died before its row was written
            if isinstance(event, Ended):
                del self.children[event.pid]
                duration = round(time.monotonic() - child.started, 6)
                usage = Usage(duration, event.max_rss_kib, event.cpu_seconds)
                self._collect(child, event.status, usage)
            elif event.count:
                log.info(
                    "task %s: killed %d process(es) the task had started",
                    child.row["id"],
                    event.count,
                )
        if self.fork_server.broken:
            self._server_lost(reaped=False)
        return waiting

    def _server_lost(self, *, reaped: bool) -> None:
        """The fork server died or stopped answering (it was killed: its children died with
        it). Their attempts end as crashes, unless they reported or were being killed; the
        worker forks its children itself from now on."""
        server, self.fork_server = self.fork_server, None
        assert server is not None
        if not server.broken:
            log.error("the fork server exited: the worker forks its children itself")
            server.broken = True
        self.waiter.unwatch(server.fileno())
        server.sock.close()
        if not reaped:
            with suppress(ChildProcessError):
                os.waitpid(server.pid, 0)
        for child in [c for c in self.children.values() if c.via_server]:
            del self.children[child.pid]
            child.read_available()
            if child.killed_for is not None:
                status = int(signal.SIGKILL)  # the kill it asked for, by whatever hand
            else:
                status = EXIT_REPORT_FAILED << 8
                if not child.report:
                    child.report += _LOST_REPORT
            self._collect(
                child, status, Usage(round(time.monotonic() - child.started, 6), None, None)
            )

    def _stop_fork_server(self) -> None:
        if self.fork_server is not None:
            self.waiter.unwatch(self.fork_server.fileno())
            self.fork_server.close()
            self.fork_server = None
