"""Statements only the worker's claim-ahead uses. Mixed into `Queries`; like it, this module
runs only SQL from pq/store/sql/."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pq.store.db import Executor


class WorkerQueries:
    """Worker statements (a mixin of `Queries`)."""

    if TYPE_CHECKING:
        channel: str

        def sql(self, name: str) -> str: ...

    def task_release(self, ex: Executor, held: list[tuple[int, int, int]]) -> int:
        """Hands back claimed rows never started, as (id, attempt, worker id); returns how
        many the fence let through."""
        rows = [{"id": i, "attempt": a, "worker_id": w} for i, a, w in held]
        params = {"rows": json.dumps(rows), "channel": self.channel}
        return len(ex.fetch(self.sql("task_release"), params))
