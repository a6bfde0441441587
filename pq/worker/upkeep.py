"""The worker's duties besides running tasks: registration, heartbeat and lease, queue
pauses, rescue of lost peers, periodic ticks, and coming back after a database outage."""

from __future__ import annotations

import logging
import time

from pq.periodic.ticks import LISTENING_MAX_SLEEP, MAX_SLEEP
from pq.store.db import PsycopgExecutor
from pq.telemetry import logs
from pq.worker.fleet import register_worker, release_unowned_tasks, rescue_lost_tasks
from pq.worker.link import STOPPING_PATIENCE, call_patience
from pq.worker.outcome import KillReason
from pq.worker.reuse import Reuse

log = logging.getLogger("pq.worker")


class Upkeep(Reuse):
    def _register(self, ex: PsycopgExecutor) -> int:
        sent = time.monotonic()
        worker_id = register_worker(self.queries, ex, self.settings)
        self.lease_from = sent
        logs.process_fields["worker_id"] = worker_id  # on every JSON line, children's too
        return worker_id

    def _heartbeat_if_due(self) -> None:
        now = time.monotonic()
        if now < self.next_heartbeat or not self.link.up:
            return
        self.next_heartbeat = now + self.settings.heartbeat_interval
        self.link.call("heartbeating", self._heartbeat)

    def _heartbeat(self, ex: PsycopgExecutor) -> None:
        sent = time.monotonic()
        # One statement, one commit: the heartbeat reads the polling fallbacks for a pause or
        # a cancel notice we missed too (it used to take three transactions every 5 s).
        busy = bool(self.children or self.held)
        alive, paused, cancel_requested = self.queries.worker_heartbeat(
            ex, self.worker_id, cancels=busy
        )
        if alive:
            self.lease_from = sent
        else:
            # Declared lost (e.g. cut off longer than the lease): our running attempts were
            # rescued and are fenced against us, and so were the rows we held: a peer may
            # run them now. Register again for new claims.
            if self.held:
                log.warning("dropping %d task(s) claimed ahead: rescued by peers", len(self.held))
                self.held.clear()
            old, self.worker_id = self.worker_id, self._register(ex)
            log.error(
                "worker %s was declared lost by the fleet (no heartbeat within %gs); "
                "registered again as worker %s",
                old,
                self.settings.lease,
                self.worker_id,
            )
        self.metrics.heartbeat_ok()
        self.gate.apply(set(paused))
        self._pauses_read()
        for task_id in cancel_requested if alive else ():
            self._cancel_running(task_id)

    def _cancel_requested(self, ex: PsycopgExecutor) -> None:
        """Kills the children whose rows carry a cancel request (a held row ends cancelled).
        A 'c:<id>' notice only brings this forward: anyone may send one, only a row update is
        a request."""
        for task_id in self.queries.task_list_cancel_requested(ex, self.worker_id):
            self._cancel_running(task_id)

    def _refresh_pauses(self) -> None:
        if self.gate.stale and self.link.up:
            self.link.call("reading paused queues", lambda ex: self.gate.refresh(self.queries, ex))
            self._pauses_read()

    def _pauses_read(self) -> None:
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
        # A listening worker hears 'p:' when a schedule changes: it need not look every 2 s.
        most = LISTENING_MAX_SLEEP if self.link.listener is not None else MAX_SLEEP
        ticked = self.link.call(
            "enqueuing periodic ticks", lambda ex: self.scheduler.run_due(ex.conn, max_sleep=most)
        )
        if ticked:
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
            self.scheduler.next_check = 0.0  # a 'p:' among them too

    # -- while a database call waits (pq/worker/stall.py) --------------------------------------
    def _supervise_waiting(self) -> None:
        """Runs every few tenths of a second inside a database call that waits. Stop signals
        have set their flags already (handlers run while we wait); here only logging and
        kills happen, which need no database and leave the set of children as it is."""
        self._announce_stop()
        self._enforce_deadlines()
        self._enforce_lease()

    def _announce_stop(self) -> None:
        if self.stopping and not self.announced_stop:
            self.announced_stop = True
            log.info(
                "stopping: %d running task(s) get up to %gs to finish (signal again to kill "
                "them now)",
                len(self.children),
                self.settings.drain_timeout,
            )

    def _call_patience(self) -> float:
        patience = call_patience(self.settings.lease)
        return min(patience, STOPPING_PATIENCE) if self.stopping else patience

    def _enforce_lease(self) -> None:
        """Stops the running tasks before the lease runs out unrenewed.

        Past the lease a peer may declare this worker lost and run its tasks again; the
        fence keeps the database from recording both, but only stopping our copy first keeps
        two from running at once. They end interrupted (retried when allowed), as a rescue
        would have ended them; if a peer did rescue them, that record is fenced out.
        """
        if not self.children or self._lease_left() > 0:
            return
        doomed = [c for c in self.children.values() if c.killed_for is None]
        if doomed:
            log.error(
                "could not renew this worker's lease for %.1fs (database unreachable): "
                "stopping its %d running task(s) before other workers may take them over",
                time.monotonic() - self.lease_from,
                len(doomed),
            )
        for child in doomed:
            self._kill(child, KillReason.LEASE)
