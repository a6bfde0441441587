"""The worker's claim (with the records of ended attempts in the same round trip) and the
hand-back of rows claimed ahead. Mixed into `Queries`; like it, this module runs only SQL
from pq/store/sql/."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from psycopg.rows import dict_row

from pq.store.queries_texts import PlannedTexts

if TYPE_CHECKING:
    from pq.store.db import Executor, PsycopgExecutor, Row


class WorkerQueries(PlannedTexts):
    """Worker statements (a mixin of `Queries`)."""

    if TYPE_CHECKING:
        channel: str

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

        The statements go out together in pipeline mode and run in one implicit transaction
        (one Sync at the end: one commit, one WAL flush): measured here, that beats both two
        plain round trips and an explicit transaction (whose BEGIN and COMMIT are round
        trips too). They touch disjoint rows (ours running, others pending). A record the
        database refuses rolls the claim back with it (the worker then records one by one
        and claims on its next turn). If the connection breaks, the worker keeps its records
        to write again (the fence stops doubles) and releases a claim it never saw.
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
