"""Retention: workers delete finished tasks past their keep time, a small batch at a time.

Leader-free: every worker tries now and then and SKIP LOCKED gives each batch to one of them
(pq/store/sql/task_prune.sql), so there are never two workers on one batch and no long lock.
A turn deletes at most MAX_BATCHES batches, so a large backlog is worked off over several
turns without holding up the worker's loop.
"""

from __future__ import annotations

import logging
import random
import time

from pq.store.db import PsycopgExecutor
from pq.store.queries import Queries

log = logging.getLogger("pq.worker")

BATCH = 500
MAX_BATCHES = 20
INTERVAL = 60.0  # seconds between turns of one worker (jittered so peers spread out)


class Retention:
    def __init__(self, completed: float | None, failed: float | None) -> None:
        self.keep = {"completed": completed, "failed": failed, "cancelled": failed}
        self.next_turn = 0.0  # the first turn comes at start-up

    @property
    def enabled(self) -> bool:
        return any(keep is not None for keep in self.keep.values())

    def due(self) -> bool:
        return self.enabled and time.monotonic() >= self.next_turn

    def run(self, queries: Queries, ex: PsycopgExecutor) -> int:
        """One turn: returns how many rows it deleted."""
        self.next_turn = time.monotonic() + INTERVAL * random.uniform(0.5, 1.5)
        deleted = 0
        for status, keep in self.keep.items():
            if keep is None:
                continue
            for _ in range(MAX_BATCHES):
                n = queries.task_prune(ex, status, keep, BATCH)
                deleted += n
                if n < BATCH:
                    break
        if self.keep["completed"] is not None:
            self._prune_barriers(queries, ex, self.keep["completed"])
        if deleted:
            log.info("retention: deleted %d finished task(s) past their keep time", deleted)
        return deleted

    @staticmethod
    def _prune_barriers(queries: Queries, ex: PsycopgExecutor, keep: float) -> None:
        # a chord's counter row, once fired, is read by nothing: it goes with its completed
        # members' keep time (nested canvases create one per group that something follows)
        for _ in range(MAX_BATCHES):
            if queries.flow_chord_prune(ex, keep, BATCH) < BATCH:
                break
