"""The flow claim: starting 'waiting' rows (global rate limits, per-key concurrency).

A task with a rate limit or a concurrency key is written 'waiting', so the ordinary claim
(task_claim.sql, one statement over the pending rows) never sees it and tasks without limits
pay nothing for this feature. The flow claim runs only when waiting work may be startable: a
'w:<queue>' notice, a rate window reopening, a key freed by a task that ended, or the poll
timer. Per group of waiting rows (rate key, concurrency key) it takes, in one short
transaction: the rate bucket's lock (then counts the starts of the last window), the key's
lock (then counts the key's running rows in a new statement, whose snapshot sees every claim
committed before the lock was granted), and claims what both allow, oldest first.
"""

from __future__ import annotations

import gc
import logging
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pq.worker.upkeep import Upkeep

if TYPE_CHECKING:
    from pq.store.db import PsycopgExecutor, Row
    from pq.store.queries import Queries

log = logging.getLogger("pq.worker")

_GROUPS = 20  # groups of waiting rows looked at per flow claim


@dataclass
class FlowClaim:
    rows: list[Row] = field(default_factory=list)
    waiting: bool = False  # due waiting rows exist in our queues (claimed or not)
    wake_in: float | None = None  # seconds until a full rate window has room again


def claim_flow(
    queries: Queries,
    ex: PsycopgExecutor,
    *,
    worker_id: int,
    free: int,
    queues: list[str],
    priorities: list[int] | None,
) -> FlowClaim:
    claim = FlowClaim()
    groups = queries.flow_waiting_keys(ex, queues, priorities, _GROUPS)
    claim.waiting = bool(groups)
    base = {"queues": queues, "priorities": priorities, "worker_id": worker_id}
    for group in groups:
        room = free - len(claim.rows)
        if room <= 0:
            break
        with queries.transaction(ex):
            claim.rows += _claim_group(queries, ex, group, room, claim, base=base)
    return claim


def _claim_group(
    queries: Queries,
    ex: PsycopgExecutor,
    group: Row,
    room: int,
    claim: FlowClaim,
    *,
    base: dict[str, Any],
) -> list[Row]:
    """Claims what the group's limits allow, inside the caller's transaction."""
    rate_key, key = group["rate_key"], group["concurrency_key"]
    at: datetime | None = None
    if rate_key is not None and group["rate_count"]:
        seconds = float(group["rate_seconds"])
        bucket = queries.flow_rate_lock(ex, rate_key, seconds)
        room = min(room, int(group["rate_count"]) - int(bucket["used"]))
        at = bucket["now"]
        if room <= 0:
            reopens = max((bucket["oldest"] - bucket["now"]).total_seconds() + seconds, 0.001)
            claim.wake_in = reopens if claim.wake_in is None else min(claim.wake_in, reopens)
            return []
    if key is not None and group["concurrency_limit"]:
        queries.flow_key_lock(ex, key)
        running, at = queries.flow_key_running(ex, key)
        room = min(room, int(group["concurrency_limit"]) - running)
        if room <= 0:
            return []  # a task of this key ending sends 'w:<queue>'
    rows = queries.flow_claim(
        ex,
        {**base, "rate_key": rate_key, "concurrency_key": key, "limit": room, "started_at": at},
    )
    if rows and rate_key is not None and at is not None and group["rate_count"]:
        queries.flow_rate_record(ex, rate_key, len(rows), at)
    return rows


class FlowControl(Upkeep):
    """The worker's side of flow control (a mixin of `Worker`, above `Upkeep`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.flow_due = True  # look for startable waiting rows at the next turn
        self.flow_waiting = False  # the last flow claim saw waiting rows
        self.next_flow = 0.0

    def _flow_claim_if_due(self) -> None:
        free = self._free_slots()
        if not self.queues:  # every queue of this worker is paused: nothing to look for
            self.flow_due = self.flow_waiting = False
            return
        if self.stopping or free <= 0 or not self.link.up:
            return
        now = time.monotonic()
        if not self.flow_due and now < self.next_flow:
            return
        if not self.flow_due and not self.flow_waiting:
            return  # nothing waited at the last look: the next claim looks (_flow_look_due)
        self.flow_due = False
        claim = self.link.call(
            "claiming flow-controlled tasks",
            lambda ex: claim_flow(
                self.queries,
                ex,
                worker_id=self.worker_id,
                free=free,
                queues=self.queues,
                priorities=self.priorities,
            ),
        )
        if claim is None:
            return  # the connection broke; a claim that committed anyway is released later
        self.flow_waiting = claim.waiting
        wait = self.settings.poll_interval
        if claim.wake_in is not None:
            wait = min(wait, claim.wake_in)
        self.next_flow = time.monotonic() + wait
        self.flow_due = len(claim.rows) == free  # all we could take: there may be more
        self._fork_claimed(claim.rows)

    def _flow_look_due(self) -> bool:
        """Whether the next claim also asks if waiting rows are due: the timer's look when the
        last one found none, riding on the claim's round trip and commit (an idle worker
        polls once per poll interval, not twice). Rows found make a flow claim due."""
        return not self.flow_due and not self.flow_waiting and time.monotonic() >= self.next_flow

    def _flow_looked(self, waiting: bool) -> None:
        self.next_flow = time.monotonic() + self.settings.poll_interval
        self.flow_due = waiting

    def _fork_claimed(self, rows: list[Row]) -> None:
        if not rows:
            return
        # Objects that exist now are never collected by the children, so a child's GC does
        # not touch (and copy) pages it shares with the parent.
        gc.freeze()
        # Flush now so the children do not inherit (and print again) buffered output.
        sys.stdout.flush()
        sys.stderr.flush()
        for row in rows:
            self.awaited_retries.pop(row["id"], None)
            self.due_retries.pop(row["id"], None)
            self._fork(row)

    def _flow_wake_at(self) -> list[float]:
        return [self.next_flow] if self.flow_waiting else []
