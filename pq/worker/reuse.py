"""Opt-in child reuse for tiny tasks (`tasks_per_child=N`, Celery's max_tasks_per_child).

A task whose tasks_per_child (its own option, else the worker's) is above 1 runs in a child
that may run up to N such tasks in a row: after each, the child reports (a framed report with
the task's CPU and peak RSS) and waits on its handoff pipe for the next row of the same
setting, saving the fork. What a task leaves behind in its process (module globals, caches,
open files, threads, monkeypatches) is seen by the next tasks of that child: that is the
isolation given up. What is kept: a crash, timeout, cancel or memory kill still ends only the
task in flight, and the worker forks a fresh child for the next; a child whose peak RSS grew
past the task's max_memory leaves after its report; an idle one is retired after
spare_max_idle.
"""

from __future__ import annotations

import os
import time
from contextlib import suppress
from typing import Any

from pq.worker.attempt import Child, finish_record, log_outcome, parse_report
from pq.worker.child import run_reusable
from pq.worker.handoff import Spare, unframe
from pq.worker.outcome import Usage, classify
from pq.worker.standby import Standby


class Reuse(Standby):
    def _tasks_per_child(self, row: dict[str, Any]) -> int:
        value = row["options"].get("tasks_per_child")  # untrusted: only a positive int counts
        if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
            return value
        return self.settings.tasks_per_child

    def _fork(self, row: dict[str, Any]) -> None:
        if self._refused(row):  # before a spare or a reused child could see it
            return
        reuse = self._tasks_per_child(row)
        if reuse == 1:
            super()._fork(row)
            return
        while idle := next((s for s in self.spares if s.reuse == reuse), None):
            self.spares.remove(idle)
            if self._hand_over(idle, row):
                return
        self._before_forks()
        if not self._hand_over(self._fork_reusable(reuse), row):
            super()._fork(row)  # it died before its first row: a plain child runs it

    def _hand_over(self, idle: Spare, row: dict[str, Any]) -> bool:
        handoff_fd = idle.handoff_fd
        if not self._hand_off(idle, row, keep_pipe=True):
            return False
        child = self.children[idle.pid]
        child.reuse, child.handoff_fd = idle.reuse, handoff_fd
        return True

    def _fork_reusable(self, reuse: int) -> Spare:
        return self._fork_waiting(
            lambda handoff_fd, report_fd, parent: run_reusable(
                self.runtime, handoff_fd, report_fd, self.hooks, reuse, parent=parent
            ),
            reuse,
        )

    def _read_report(self, child: Child) -> None:
        if child.reuse == 1:
            super()._read_report(child)
            return
        still_open = child.read_available()
        message = unframe(child.report)
        if message is not None:
            self.children.pop(child.pid, None)
            self._reused_task_ended(child, message[0], exited=False)
        elif not still_open:
            self.waiter.unwatch(child.read_fd)
            child.close_pipe()

    def _collect(self, child: Child, status: int, usage: Usage) -> None:
        if child.reuse > 1:
            with suppress(OSError):
                os.close(child.handoff_fd)
            if child.pipe_open:
                child.read_available()
            message = unframe(child.report)
            if message is not None:  # it reported, then left: its last task, or grown
                self._reused_task_ended(child, message[0], exited=True)
                return
            child.report.clear()  # died during the task: classified from its exit status
        super()._collect(child, status, usage)

    def _reused_task_ended(self, child: Child, body: bytes, *, exited: bool) -> None:
        report = parse_report(body) or {}
        cpu, rss = (report.get("usage") or [None, None])[:2]
        usage = Usage(
            duration=round(time.monotonic() - child.started, 6),
            max_rss_kib=int(rss) if isinstance(rss, int) else None,
            cpu_seconds=round(float(cpu), 6) if isinstance(cpu, float | int) else None,
        )
        outcome = classify(0, report, child.killed_for, max_runtime=child.max_runtime)
        self._add_finished(finish_record(child.row, outcome, usage))
        self.processed += 1
        log_outcome(child.row, outcome, usage)
        self.metrics.task_ended(
            child.row, outcome.kind.value, usage.duration, (usage.max_rss_kib or 0) * 1024
        )
        if exited:
            self.waiter.unwatch(child.read_fd)
            child.close_pipe()
        elif report.get("last") or child.killed_for is not None:
            self.waiter.unwatch(child.read_fd)
            child.close_pipe()
            with suppress(OSError):
                os.close(child.handoff_fd)
            self.retired.add(child.pid)  # it exits by itself (or by our kill): reap it
        else:  # back to waiting for the next row of its setting
            self.waiter.unwatch(child.read_fd)
            child.report.clear()
            idle = Spare(child.pid, child.handoff_fd, child.read_fd, time.monotonic(), child.reuse)
            self.spares.append(idle)
