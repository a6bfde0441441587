"""Which of a worker's queues it may claim from now: an operator can pause a queue for the
whole fleet (`pq queue pause`, app.pause_queue). The worker reads the paused list when it
starts, with every heartbeat and when a 'q:<queue>' notice says it changed, and leaves paused
queues out of its claim, so the claim statement does no extra work for this feature."""

from __future__ import annotations

import logging

from pq.store.db import Executor
from pq.store.queries import Queries

log = logging.getLogger("pq.worker")


class QueueGate:
    """The worker's configured queues minus the paused ones."""

    def __init__(self, queues: tuple[str, ...]) -> None:
        self.configured = list(queues)
        self.open = list(queues)
        self.paused: list[str] = []
        self.stale = True  # read the paused list before the first claim

    def refresh(self, queries: Queries, ex: Executor) -> None:
        self.apply({str(r["queue"]) for r in queries.queue_paused_list(ex)})

    def apply(self, paused_now: set[str]) -> None:
        """Takes the fleet's paused queues (read by refresh, or with the heartbeat)."""
        paused = [q for q in self.configured if q in paused_now]
        self.stale = False
        if paused == self.paused:
            return
        resumed = [q for q in self.paused if q not in paused]
        newly = [q for q in paused if q not in self.paused]
        if newly:
            log.info("queue(s) %s paused: not claiming from them", ",".join(newly))
        if resumed:
            log.info("queue(s) %s resumed", ",".join(resumed))
        self.paused = paused
        self.open = [q for q in self.configured if q not in paused_now]
