"""The worker's duties besides running tasks: registration and heartbeat, queue pauses,
rescue of lost peers, periodic ticks, and coming back after a database outage."""

from __future__ import annotations

import logging
import time

from pq.store.db import PsycopgExecutor
from pq.telemetry import logs
from pq.worker.fleet import register_worker, release_unowned_tasks, rescue_lost_tasks
from pq.worker.reuse import Reuse

log = logging.getLogger("pq.worker")


class Upkeep(Reuse):
    def _register(self, ex: PsycopgExecutor) -> int:
        worker_id = register_worker(self.queries, ex, self.settings)
        logs.process_fields["worker_id"] = worker_id  # on every JSON line, children's too
        return worker_id

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
        self.metrics.heartbeat_ok()
        self.gate.stale = True  # the polling fallback for a pause notice we missed
        if self.children or self.held:  # the polling fallback for a cancel notice we missed
            self._cancel_requested(ex)

    def _cancel_requested(self, ex: PsycopgExecutor) -> None:
        """Kills the children whose rows carry a cancel request (a held row ends cancelled).
        A 'c:<id>' notice only brings this forward: anyone may send one, only a row update is
        a request."""
        for task_id in self.queries.task_list_cancel_requested(ex, self.worker_id):
            self._cancel_running(task_id)

    def _refresh_pauses(self) -> None:
        if self.gate.stale and self.link.up:
            self.link.call("reading paused queues", lambda ex: self.gate.refresh(self.queries, ex))
            self.queues = self.gate.open
            self._release_held(self.gate.paused)  # claimed ahead before the pause: hand back

    def _prune_if_due(self) -> None:
        """Retention (pq/worker/retention.py): old finished rows go, a batch at a time."""
        if self.stopping or not self.link.up or not self.retention.due():
            return
        self.link.call(
            "deleting old finished tasks", lambda ex: self.retention.run(self.queries, ex)
        )

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
                keep = [c.row["id"] for c in self.children.values()] + self._held_ids()
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
