"""Rows claimed ahead: a few more than the free slots, started as slots free up.

Without them, every ended child costs a database round trip before the next fork, on the
critical path. With them, the parent forks at once from rows it already holds and claims
again (recording what ended in the same round trip) only when it has started them all,
while its children run. A held row is running for this worker in the database, so a worker
that dies holding rows has them rescued like any claim; one that stops hands them back
(`task_release.sql`), as it does when their queue is paused. A held row's cancel ends it
at once as cancelled. A held row delays a newer row of higher priority by at most the
prefetch (`--prefetch 0` turns this off).
"""

from __future__ import annotations

import gc
import logging
import sys
import time
from typing import Any

from pq.models import OutcomeKind
from pq.worker.attempt import finish_record
from pq.worker.outcome import Outcome, Usage
from pq.worker.supervision import Supervision

log = logging.getLogger("pq.worker")

# How long an ended attempt may wait to share a round trip with later ones while other
# children run (an idle worker records at once).
FLUSH_DELAY = 0.02


class ClaimAhead(Supervision):
    def _free_slots(self) -> int:
        free = self.settings.concurrency - len(self.children)
        if self.max_tasks is not None:
            free = min(free, self.max_tasks - self.processed - len(self.children))
        return free

    def _claim_limit(self) -> int:
        """How many rows to claim now: none while held rows wait, else the free slots plus
        the prefetch (none ahead for a worker that must stop after max_tasks)."""
        if self.held:
            return 0
        ahead = 0 if self.max_tasks is not None else self.settings.claim_ahead
        return max(0, self._free_slots()) + ahead

    def _before_forks(self) -> None:
        # Objects that exist now are never collected by the children, so a child's GC
        # does not touch (and copy) pages it shares with the parent.
        gc.freeze()
        # Flush now so the children do not inherit (and print again) buffered output.
        sys.stdout.flush()
        sys.stderr.flush()

    def _start_held(self) -> None:
        free = self._free_slots()
        if free <= 0 or not self.held or self.stopping or self._lease_left() <= 0:
            return  # out of lease: a peer may be given these rows (see Upkeep._enforce_lease)
        self._before_forks()
        while free > 0 and self.held:
            row = self.held.pop(0)
            self.awaited_retries.pop(row["id"], None)
            self.due_retries.pop(row["id"], None)
            self._fork(row)
            free -= 1

    def _release_held(self, queues: list[str] | None = None) -> None:
        """Hands back the held rows (or those of `queues`) to be claimed by anyone."""
        rows = [r for r in self.held if queues is None or r["queue"] in queues]
        if not rows:
            return
        held = [(int(r["id"]), int(r["attempts"]), int(r["worker_id"])) for r in rows]
        released = None
        if self.link.up:
            released = self.link.call(
                "handing back tasks claimed ahead",
                lambda ex: self.queries.task_release(ex, held),
            )
        if released is None:
            log.warning(
                "%d task(s) claimed ahead could not be handed back; they will be rescued as "
                "lost once this worker stops heartbeating",
                len(rows),
            )
        ids = {r["id"] for r in rows}
        self.held = [r for r in self.held if r["id"] not in ids]

    def _cancel_running(self, task_id: int) -> None:
        for row in self.held:
            if row["id"] == task_id:  # not started: it ends here, cancelled
                self.held.remove(row)
                outcome = Outcome(OutcomeKind.CANCELLED, error="cancelled before it started")
                self._add_finished(finish_record(row, outcome, Usage(0.0, None, None)))
                return
        super()._cancel_running(task_id)

    def _flush_due(self) -> bool:
        """Record now, or let the ended attempts share a later round trip?"""
        if not self.finished:
            return False
        if not self.children or self.stopping:
            return True
        if len(self.finished) >= self.settings.concurrency:
            return True
        return time.monotonic() >= self.first_finished_at + FLUSH_DELAY

    def _flush_wake(self) -> list[float]:
        return [self.first_finished_at + FLUSH_DELAY] if self.finished else []

    def _held_ids(self) -> list[Any]:
        return [r["id"] for r in self.held]
