"""The worker's claim (with the records of ended attempts in the same round trip) and the
hand-back of rows claimed ahead. Mixed into `Queries`; like it, this module runs only SQL
from pq/store/sql/."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from psycopg import Connection, sql
from psycopg.rows import dict_row

if TYPE_CHECKING:
    from pq.store.db import Executor, PsycopgExecutor, Row

# Claim texts kept per Queries (one per limit and queue set, see claim_text); psycopg
# keeps up to 100 prepared statements per connection.
_CLAIM_TEXTS = 32


class WorkerQueries:
    """Worker statements (a mixin of `Queries`)."""

    if TYPE_CHECKING:
        channel: str
        _claim_texts: dict[tuple[Any, ...], str]

        def sql(self, name: str) -> str: ...
        def _finish_statement(self, finished: list[dict[str, Any]]) -> str: ...
        def _finish_params(self, finished: list[dict[str, Any]]) -> dict[str, Any]: ...
        def _changed(self, rows: list[Row]) -> dict[int, str]: ...

    def task_claim(
        self,
        ex: PsycopgExecutor,
        *,
        worker_id: int,
        limit: int,
        queues: list[str],
        priorities: list[int] | None,
    ) -> list[Row]:
        """A claim alone, exactly as the worker's (task_finish_and_claim with no records)."""
        return self.task_finish_and_claim(
            ex, [], worker_id=worker_id, limit=limit, queues=queues, priorities=priorities
        )[1]

    def claim_text(
        self,
        conn: Connection[Any],
        limit: int,
        queues: list[str],
        priorities: list[int] | None,
        statement: str = "task_claim",
    ) -> str:
        """task_claim.sql (or flow_waiting_keys.sql, whose values are the same and pick its
        plan the same way) with the worker's queues, priorities and limit written in as
        literals (quoted by psycopg for this connection); only worker_id stays a parameter.

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

    @staticmethod
    def _in_claim_order(rows: list[Row]) -> list[Row]:
        # UPDATE ... RETURNING does not keep the CTE's order
        rows.sort(key=lambda r: (-r["priority"], r["run_at"], r["id"]))
        return rows

    def task_finish_and_claim(
        self,
        ex: PsycopgExecutor,
        finished: list[dict[str, Any]],
        *,
        worker_id: int,
        limit: int,
        queues: list[str],
        priorities: list[int] | None,
        look_waiting: bool = False,
    ) -> tuple[dict[int, str], list[Row], bool]:
        """Records ended attempts and claims new rows in one network round trip; with
        `look_waiting`, also tells whether due waiting rows (flow control) exist.

        The two statements go out together in pipeline mode, each committing on its own as
        when sent apart: measured here, that beats both two plain round trips and one
        transaction (whose BEGIN and COMMIT are round trips too). They touch disjoint rows
        (ours running, others pending). If the connection breaks, the worker keeps its
        records to write again (the fence stops doubles) and releases a claim it never saw.
        """
        conn = ex.conn
        with conn.pipeline():
            finish = conn.cursor(row_factory=dict_row)
            if finished:
                finish.execute(
                    self.sql(self._finish_statement(finished)), self._finish_params(finished)
                )
            claim = conn.cursor(row_factory=dict_row)
            claim.execute(
                self.claim_text(conn, limit, queues, priorities), {"worker_id": worker_id}
            )
            look = conn.cursor(row_factory=dict_row)
            if look_waiting:
                look.execute(self.claim_text(conn, 1, queues, priorities, "flow_waiting_keys"), {})
        changed = self._changed(finish.fetchall()) if finished else {}
        waiting = bool(look.fetchall()) if look_waiting else False
        return changed, self._in_claim_order(claim.fetchall()), waiting

    def task_release(self, ex: Executor, held: list[tuple[int, int, int]]) -> int:
        """Hands back claimed rows never started, as (id, attempt, worker id); returns how
        many the fence let through."""
        rows = [{"id": i, "attempt": a, "worker_id": w} for i, a, w in held]
        params = {"rows": json.dumps(rows), "channel": self.channel}
        return len(ex.fetch(self.sql("task_release"), params))
