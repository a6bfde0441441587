"""The worker parent: claim, fork, supervise, record, heartbeat, drain.

The parent never runs task code. It holds two connections (work and LISTEN) whatever its
concurrency, claims as many rows as it has free slots in one statement, forks one child per
row, learns how each child ended from os.wait4 and the child's report pipe, and records all
ended attempts of a loop turn in one statement fenced by (id, attempt, worker id, running).
"""

from __future__ import annotations

import gc
import logging
import os
import signal
import sys
import time
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import psycopg

from pq.periodic.ticks import Scheduler, sync_declared
from pq.settings import WorkerSettings, build_worker_settings
from pq.store.db import PsycopgExecutor, connect
from pq.store.migrate import check_schema_current
from pq.worker.attempt import Child, finish_record, log_outcome, parse_report
from pq.worker.child import run_child
from pq.worker.fleet import register_worker, release_unowned_tasks, rescue_lost_tasks
from pq.worker.limits import Limits
from pq.worker.link import WORKER_CONNECTION_OPTIONS, DatabaseLink
from pq.worker.outcome import KillReason, Usage, classify, usage_of
from pq.worker.pauses import QueueGate
from pq.worker.wakeup import SignalPipe, Waiter

if TYPE_CHECKING:
    from collections.abc import Callable

    from pq.runtime import Runtime

log = logging.getLogger("pq.worker")

_RETRY_GRACE = 5.0  # seconds a burst keeps looking for a due retry before giving up on it

__all__ = ["Hooks", "Worker", "build_worker_settings", "run"]  # callers import these from here


@dataclass(frozen=True)
class Hooks:
    """Run in the child around each task: pre_execute(task), post_execute(task, error)."""

    pre_execute: Callable[..., Any] | None = None
    post_execute: Callable[..., Any] | None = None


def run(
    runtime: Runtime,
    settings: WorkerSettings,
    hooks: Hooks,
    *,
    max_tasks: int | None = None,
    upgrade_hint: str = "pq migrate APP",
) -> int:
    """Runs a worker until stopped; returns how many tasks it processed."""
    return Worker(runtime, settings, hooks, max_tasks=max_tasks, upgrade_hint=upgrade_hint).run()


class Worker:
    def __init__(
        self,
        runtime: Runtime,
        settings: WorkerSettings,
        hooks: Hooks,
        *,
        max_tasks: int | None,
        upgrade_hint: str,
    ) -> None:
        self.runtime = runtime
        self.queries = runtime.queries
        self.settings = settings
        self.hooks = hooks
        self.max_tasks = max_tasks
        self.upgrade_hint = upgrade_hint
        self.children: dict[int, Child] = {}
        self.finished: list[dict[str, Any]] = []
        self.processed = 0
        self.stopping = False
        self.stop_deadline = 0.0
        self.kill_now = False
        self.maybe_work = True
        self.next_poll = 0.0
        self.next_heartbeat = 0.0
        self.next_rescue = 0.0
        self.worker_id = 0
        self.waiter = Waiter()
        self.signals = SignalPipe(self._on_stop_signal)
        listen = None if settings.poll_only else self._listen
        self.link = DatabaseLink(self._connect, listen, self.waiter)
        self.scheduler = Scheduler(runtime)
        # the claim's parameters, worked out once rather than on every claim of the hot loop
        self.queues = list(settings.queues)  # minus paused ones (see _refresh_pauses)
        self.gate = QueueGate(settings.queues)
        # burst: tasks this worker ran that wait for a retry -> when they are due, then (once
        # due) -> when to stop looking for them
        self.awaited_retries: dict[int, float] = {}
        self.due_retries: dict[int, float] = {}
        self.priorities = settings.priority_list

    # -- lifecycle ---------------------------------------------------------------------------
    def run(self) -> int:
        self._open()
        try:
            self._loop()
        finally:
            self._close()
        return self.processed

    def _open(self) -> None:
        self.link.open()
        check_schema_current(self.link.executor(), self.queries, upgrade_hint=self.upgrade_hint)
        sync_declared(
            self.runtime, self.link.executor().conn, datetime.now(UTC)
        )  # code's schedules
        self.worker_id = self._register(self.link.executor())
        self.signals.install()
        self.waiter.watch(self.signals.read_fd, Waiter.SIGNALS)
        log.info(
            "worker %s started: queues=%s priorities=%s concurrency=%d",
            self.worker_id,
            ",".join(self.settings.queues),
            self.settings.priority_list or "all",
            self.settings.concurrency,
        )

    def _connect(self) -> psycopg.Connection[Any]:
        return connect(self.runtime.database_url(), **WORKER_CONNECTION_OPTIONS)

    def _listen(self, ex: PsycopgExecutor) -> None:
        self.queries.listen(ex, self.queries.channel)

    def _register(self, ex: PsycopgExecutor) -> int:
        return register_worker(self.queries, ex, self.settings)

    def _close(self) -> None:
        if self.children:  # only on an unexpected error: do not leave orphans running
            for child in self.children.values():
                self._kill(child, KillReason.SHUTDOWN)
            while self.children:
                self._reap(block=True)
        self._flush()
        if self.finished:
            log.error(
                "stopping with %d finished attempt(s) unrecorded (database unreachable); "
                "another worker will rescue them as lost",
                len(self.finished),
            )
        self.signals.restore()
        if self.link.up:
            self.link.call("deregistering", self._deregister)
        self.link.close()
        self.waiter.close()
        log.info("worker %s stopped after %d tasks", self.worker_id, self.processed)

    def _deregister(self, ex: PsycopgExecutor) -> None:
        self.queries.worker_deregister(ex, self.worker_id)

    def _on_stop_signal(self, signum: int) -> None:
        # Runs between bytecodes of the loop: only set flags here, the loop acts on them.
        if self.stopping:
            self.kill_now = True
        else:
            self.stopping = True
            self.stop_deadline = time.monotonic() + self.settings.drain_timeout

    # -- the loop ----------------------------------------------------------------------------
    def _loop(self) -> None:
        announced_stop = False
        while True:
            self._reap()
            self._enforce_deadlines()
            self._reconnect_if_due()
            if self.stopping and not announced_stop:
                announced_stop = True
                log.info(
                    "stopping: %d running task(s) get up to %gs to finish (signal again to "
                    "kill them now)",
                    len(self.children),
                    self.settings.drain_timeout,
                )
            self._heartbeat_if_due()  # here, so a worker that never idles still heartbeats
            self._refresh_pauses()
            self._rescue_if_due()
            self._run_due_ticks()
            if self._may_claim():
                self._claim_and_fork()  # also records the attempts that ended: one commit
                continue  # re-check before sleeping: an empty claim may have ended a burst
            self._flush()
            if self._done():
                return
            self._sleep()

    def _done(self) -> bool:
        if self.children:
            return False
        if self.finished:
            # Unrecorded attempts wait for the database, but a stop does not wait forever.
            return self.kill_now or (self.stopping and time.monotonic() >= self.stop_deadline)
        if self.stopping:
            return True
        if self.max_tasks is not None and self.processed >= self.max_tasks:
            return True
        return self.settings.burst and not self.maybe_work and not self._awaiting_retries()

    def _free_slots(self) -> int:
        free = self.settings.concurrency - len(self.children)
        if self.max_tasks is not None:
            free = min(free, self.max_tasks - self.processed - len(self.children))
        return free

    def _may_claim(self) -> bool:
        if self.stopping or self._free_slots() <= 0 or not self.link.up:
            return False
        if not self.queues:  # every queue of this worker is paused
            self.maybe_work = False
            return False
        return self.maybe_work or time.monotonic() >= self.next_poll

    def _claim_and_fork(self) -> None:
        limit = self._free_slots()
        result = self.link.call(
            "recording and claiming tasks",
            lambda ex: self.queries.task_finish_and_claim(
                ex,
                self.finished,
                worker_id=self.worker_id,
                limit=limit,
                queues=self.queues,
                priorities=self.priorities,
            ),
        )
        if result is None:
            return  # the connection broke; a claim that committed anyway is released later
        changed, rows = result
        self._recorded(changed)
        self.next_poll = time.monotonic() + self.settings.poll_interval
        self.maybe_work = len(rows) == limit  # a full batch: there may be more waiting
        if rows:
            # Objects that exist now are never collected by the children, so a child's GC
            # does not touch (and copy) pages it shares with the parent.
            gc.freeze()
            # Flush now so the children do not inherit (and print again) buffered output.
            sys.stdout.flush()
            sys.stderr.flush()
            for row in rows:
                self.awaited_retries.pop(row["id"], None)
                self.due_retries.pop(row["id"], None)
                self._fork(row)

    def _sleep(self) -> None:
        now = time.monotonic()
        wake_at = [self.next_poll, self.next_heartbeat, self.scheduler.next_check]
        wake_at += self.awaited_retries.values()
        wake_at += [c.deadline for c in self.children.values() if c.deadline and not c.killed_for]
        if self.stopping:
            wake_at.append(self.stop_deadline)
        if not self.link.complete:
            wake_at.append(self.link.next_attempt)
        for tag in self.waiter.wait(min(wake_at) - now):
            if tag == Waiter.SIGNALS:
                self.signals.drain()
            elif tag == Waiter.LISTENER:
                self._on_notifications()
            elif isinstance(tag, Child):
                self._read_report(tag)

    def _on_notifications(self) -> None:
        for payload in self.link.drain_notifications():
            kind, _, value = payload.partition(":")
            if kind == "t" and value in self.settings.queues:
                self.maybe_work = True
            elif kind == "c":
                self._cancel_running(int(value))
            elif kind == "p":  # a schedule was created or resumed: look at it now
                self.scheduler.next_check = 0.0
            elif kind == "q" and value in self.settings.queues:  # paused or resumed
                self.gate.stale = True

    def _heartbeat_if_due(self) -> None:
        now = time.monotonic()
        if now < self.next_heartbeat or not self.link.up:
            return
        self.next_heartbeat = now + self.settings.heartbeat_interval
        self.link.call("heartbeating", self._heartbeat)

    def _heartbeat(self, ex: PsycopgExecutor) -> None:
        if not self.queries.worker_heartbeat(ex, self.worker_id):
            # Declared lost (e.g. frozen longer than the lease): our running attempts were
            # rescued and are fenced against us. Register again for new claims.
            old, self.worker_id = self.worker_id, self._register(ex)
            log.error(
                "worker %s was declared lost by the fleet (no heartbeat within %gs); "
                "registered again as worker %s",
                old,
                self.settings.lease,
                self.worker_id,
            )
        self.gate.stale = True  # the polling fallback for a pause notice we missed
        if self.children:  # the polling fallback for a cancel notice we missed
            for task_id in self.queries.task_list_cancel_requested(ex, self.worker_id):
                self._cancel_running(task_id)

    def _refresh_pauses(self) -> None:
        if self.gate.stale and self.link.up:
            self.link.call("reading paused queues", lambda ex: self.gate.refresh(self.queries, ex))
            self.queues = self.gate.open

    def _awaiting_retries(self) -> bool:
        """A burst waits for the retries of the tasks it ran (until their backoff is over,
        plus a grace for clock skew between this host and the database), then claims them."""
        now = time.monotonic()
        for task_id, due in list(self.awaited_retries.items()):
            if now >= due:  # claim it now; later polls look again for a while
                self.maybe_work = True
                self.due_retries[task_id] = now + _RETRY_GRACE
                del self.awaited_retries[task_id]
        for task_id, give_up in list(self.due_retries.items()):
            if now >= give_up:  # another worker took it, or it was cancelled or deleted
                del self.due_retries[task_id]
        return bool(self.awaited_retries or self.due_retries)

    def _rescue_if_due(self) -> None:
        now = time.monotonic()
        if now < self.next_rescue or not self.link.up:
            return
        self.next_rescue = now + self.settings.heartbeat_interval
        rescued = self.link.call(
            "rescuing lost tasks", lambda ex: rescue_lost_tasks(self.queries, ex, self.worker_id)
        )
        if rescued:
            self.maybe_work = True

    def _run_due_ticks(self) -> None:
        """Enqueues the periodic ticks that are due (see pq/scheduler.py)."""
        if self.stopping or not self.link.up or not self.scheduler.due():
            return
        if self.link.call("enqueuing periodic ticks", lambda ex: self.scheduler.run_due(ex.conn)):
            self.maybe_work = True  # our own ticks may be for our queues: claim at once

    def _reconnect_if_due(self) -> None:
        if self.link.complete:
            return
        listener_was_down = self.link.listener is None
        if self.link.reconnect_if_due():
            # Write what waited, then hand back any claim whose reply the outage swallowed.
            self._flush()
            if not self.finished:
                keep = [c.row["id"] for c in self.children.values()]
                self.link.call(
                    "releasing unowned tasks",
                    lambda ex: release_unowned_tasks(self.queries, ex, self.worker_id, keep),
                )
            self.next_heartbeat = 0.0
            # Peers lost the database too and reconnect within a few seconds: give them a
            # lease to heartbeat again before taking anyone for lost.
            self.next_rescue = time.monotonic() + self.settings.lease
        if self.link.complete and listener_was_down:
            self.maybe_work = True  # notifications sent while it was down are gone

    # -- children ----------------------------------------------------------------------------
    def _fork(self, row: dict[str, Any]) -> None:
        max_runtime = row["options"].get("max_runtime") or self.settings.max_runtime
        limits = Limits.for_task(row["options"], self.settings.max_memory, self.settings.max_cpu)
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: never returns
            try:
                os.close(read_fd)
                run_child(self.runtime, row, write_fd, self.hooks, limits)
            finally:
                os._exit(70)
        os.close(write_fd)
        # Both sides set the process group, so it is in place whichever runs first.
        with suppress(OSError):
            os.setpgid(pid, pid)
        os.set_blocking(read_fd, False)
        child = Child(pid, row, read_fd, time.monotonic(), max_runtime, limits)
        self.children[pid] = child
        self.waiter.watch(read_fd, child)

    def _read_report(self, child: Child) -> None:
        if not child.read_available():
            self.waiter.unwatch(child.read_fd)
            child.close_pipe()

    def _reap(self, *, block: bool = False) -> None:
        while self.children:
            try:
                pid, status, rusage = os.wait4(-1, 0 if block else os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            child = self.children.pop(pid, None)
            if child is not None:
                self._collect(child, status, usage_of(rusage, time.monotonic() - child.started))
            if block:
                return

    def _collect(self, child: Child, status: int, usage: Usage) -> None:
        # The child has exited, so everything it wrote is in the pipe; a grandchild may still
        # hold the write end open, so read what is there instead of waiting for EOF.
        child.read_available()
        self.waiter.unwatch(child.read_fd)
        child.close_pipe()
        report = parse_report(bytes(child.report))
        outcome = classify(status, report, child.killed_for, max_runtime=child.max_runtime)
        self.finished.append(finish_record(child.row, outcome, usage))
        self.processed += 1
        log_outcome(child.row, outcome, usage)

    def _flush(self) -> None:
        if not self.finished or not self.link.up:
            return
        changed = self.link.call(
            "recording finished tasks", lambda ex: self.queries.task_finish(ex, self.finished)
        )
        if changed is None:
            return  # kept, and written again after the reconnect (the fence stops doubles)
        self._recorded(changed)

    def _await_retry(self, record: dict[str, Any]) -> None:
        retry_at = record.get("retry_at")
        wait = 0.0
        if retry_at:
            wait = max(0.0, (datetime.fromisoformat(retry_at) - datetime.now(UTC)).total_seconds())
        log.info("burst: waiting %.1fs for the retry of task %s", wait, record["id"])
        self.awaited_retries[record["id"]] = time.monotonic() + wait

    def _recorded(self, changed: dict[int, str]) -> None:
        """Forgets the records just written; says which ones the fence turned away."""
        if "pending" in changed.values():
            self.maybe_work = True  # a promoted upsert version or a retry: look again
        for record in self.finished:
            if self.settings.burst and changed.get(record["id"]) == "pending":
                self._await_retry(record)
            if record["id"] not in changed:
                log.warning(
                    "task %s attempt %s: not recorded, the row moved on without this worker "
                    "(cancelled, rescued, or already recorded before a reconnect)",
                    record["id"],
                    record["attempt"],
                )
        self.finished.clear()

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
        # The whole process group: whatever the task started dies with it.
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(child.pid, signal.SIGKILL)
