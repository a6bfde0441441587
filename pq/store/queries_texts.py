"""The worker's claims with the values that pick their plans written in (WorkerQueries and
FlowQueries share it; mixed into `Queries`, like them it runs only SQL from pq/store/sql/)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from psycopg import Connection, sql

# Texts kept per Queries (one per statement, limit and queue set); psycopg keeps up to 100
# prepared statements per connection.
_CLAIM_TEXTS = 32


class PlannedTexts:
    """claim_text (a mixin of `Queries`, below WorkerQueries and FlowQueries)."""

    if TYPE_CHECKING:
        _claim_texts: dict[tuple[Any, ...], str]

        def sql(self, name: str) -> str: ...

    def claim_text(
        self,
        conn: Connection[Any],
        limit: int,
        queues: list[str],
        priorities: list[int] | None,
        statement: str = "task_claim",
    ) -> str:
        """`statement` (task_claim.sql; flow_waiting_keys.sql and flow_claim.sql, whose
        values are the same and pick their plans the same way) with the worker's queues,
        priorities and limit written in as literals (quoted by psycopg for this
        connection); the other values stay parameters (worker_id; the flow claim's keys,
        which come from rows).

        Why: these values pick the claim's plan, and they are the same on every claim of a
        worker (a pause changes the queues; the limit takes a few values). As parameters,
        Postgres planned the claim anew on every call (it estimates the recursive CTE's
        generic plan as costlier, so it never switches to it), which cost some 0.6 ms of
        server CPU per claim, more than running it, and as much of the idle pick-up. As
        literals, the generic plan is the plan for exactly these values, and the prepared
        statement keeps it: a plan made without the values (plan_cache_mode =
        force_generic_plan) may pick an index that walks every pending row of other queues
        (measured: 270 ms per claim with a million of them, benchmarks/bench_claim.py).
        A new ANALYZE of the table makes Postgres plan it again, as it would any plan."""
        key = (statement, limit, tuple(queues), None if priorities is None else tuple(priorities))
        text = self._claim_texts.get(key)
        if text is None:
            if len(self._claim_texts) >= _CLAIM_TEXTS:
                self._claim_texts.clear()  # queues paused and resumed in many combinations
            text = self.sql(statement)
            for name, value in (("limit", limit), ("queues", queues), ("priorities", priorities)):
                # "%" doubled: the text still goes through psycopg's %(name)s placeholders
                literal = sql.Literal(value).as_string(conn).replace("%", "%%")
                text = text.replace(f"%({name})s", literal)
            self._claim_texts[key] = text
        return text
