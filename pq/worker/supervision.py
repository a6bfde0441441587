"""Forking a child per task, reading its report, reaping it, and killing it when due.

The only code that forks. Everything a child inherits is final when `_fork` runs: the loop
forks only after the claim's transaction has committed and buffers were flushed.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from contextlib import suppress
from typing import Any

from pq.models import OutcomeKind
from pq.worker.attempt import Child, finish_record, log_outcome, parse_report
from pq.worker.child import prepare, run_child
from pq.worker.limits import Limits
from pq.worker.outcome import KillReason, Outcome, Usage, classify, usage_of
from pq.worker.recording import Recording
from pq.worker.rowcheck import row_problem
from pq.worker.tree import kill_tree

log = logging.getLogger("pq.worker")


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
        while self.children or self.spares or self.retired:
            try:
                pid, status, rusage = os.wait4(-1, 0 if block else os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
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
        # The child, its process group and every descendant, however they regrouped
        # (pq/worker/tree.py).
        killed = kill_tree(child.pid)
        if killed:
            log.info("task %s: killed %d process(es) the task had started", child.row["id"], killed)
