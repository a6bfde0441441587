"""What a worker parent knows: its settings, its children, its unrecorded endings, its timers.

The worker parent is one class assembled from mixins, one duty per module, stacked in a line
so each sees the methods of the ones below it: `WorkerState` (this module) <- `Recording`
(writing ended attempts) <- `Supervision` (forking and reaping children) <- `ClaimAhead`
(rows claimed beyond the free slots) <- `Standby` (spare children) <-
`Reuse` (tasks_per_child) <- `Upkeep`
(heartbeat, pauses, rescue, ticks, reconnects) <- `FlowControl` <- `Listening` (the
listener slot) <- `Worker` (the loop, in loop.py).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pq.periodic.ticks import Scheduler
from pq.telemetry.metrics import worker_metrics
from pq.worker.herd import NoticeDamper
from pq.worker.pauses import QueueGate
from pq.worker.retention import Retention
from pq.worker.slot import ListenerSlot
from pq.worker.wakeup import Waiter

if TYPE_CHECKING:
    from collections.abc import Callable

    from pq.runtime import Runtime
    from pq.settings import WorkerSettings
    from pq.worker.attempt import Child
    from pq.worker.forkserver import ForkServer
    from pq.worker.handoff import Spare
    from pq.worker.link import DatabaseLink
    from pq.worker.stall import Guard
    from pq.worker.wakeup import SignalPipe


@dataclass(frozen=True)
class Hooks:
    """Run in the child around each task: pre_execute(task), post_execute(task, error);
    child_init() first of all, right after the fork (set up tracing exporters there)."""

    pre_execute: Callable[..., Any] | None = None
    post_execute: Callable[..., Any] | None = None
    child_init: Callable[..., Any] | None = None


class WorkerState:
    # Set by Worker._attach when it runs: both take the worker's own bound methods.
    signals: SignalPipe
    link: DatabaseLink
    guard: Guard

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
        self.first_finished_at = 0.0  # when the oldest unrecorded ending was added
        self.held: list[dict[str, Any]] = []  # rows claimed ahead, not started yet (ahead.py)
        self.spares: list[Spare] = []  # forked children waiting for a row (standby.py)
        self.retired: set[int] = set()  # pids of idle children told to exit, to reap
        self.fork_server: ForkServer | None = None  # settings.fork_server (forkserver.py)
        self.processed = 0
        self.stopping = False
        self.stop_deadline = 0.0
        self.kill_now = False
        self.announced_stop = False  # the "stopping" line is logged once
        self.maybe_work = True
        self.damper = NoticeDamper()  # answers "new task" notices without a herd
        self.slot: ListenerSlot | None = None  # one listener per queue set (listening.py)
        self.retention = Retention(settings.retain_completed, settings.retain_failed)
        self.next_poll = 0.0
        self.next_heartbeat = 0.0
        self.next_rescue = 0.0
        # When the last heartbeat (or registration) that succeeded was sent: the database
        # stamped it later, so the lease peers see runs out after lease_from + lease.
        self.lease_from = 0.0
        self.worker_id = 0
        self.waiter = Waiter()
        # ticks only of the schedules this worker could run itself (see Scheduler)
        self.scheduler = Scheduler(runtime, list(settings.queues), settings.priority_list)
        self.metrics = worker_metrics(
            settings.metrics_port, settings.metrics_host, lambda: len(self.children)
        )
        # the claim's parameters, worked out once rather than on every claim of the hot loop
        self.queues = list(settings.queues)  # minus paused ones (see Upkeep._refresh_pauses)
        self.gate = QueueGate(settings.queues)
        # burst: tasks this worker ran that wait for a retry -> when they are due, then (once
        # due) -> when to stop looking for them
        self.awaited_retries: dict[int, float] = {}
        self.due_retries: dict[int, float] = {}
        self.priorities = settings.priority_list

    def _lease_left(self) -> float:
        """Seconds before this worker must stop running tasks, its lease not renewed: a
        margin before peers may take it for lost (and run its tasks again)."""
        lease, interval = self.settings.lease, self.settings.heartbeat_interval
        # Less than half the gap between heartbeat and lease: a lease barely longer than the
        # heartbeat interval must not run out between two heartbeats that succeed.
        margin = min(1.0, lease / 4, (lease - interval) / 2)
        return self.lease_from + self.settings.lease - margin - time.monotonic()
