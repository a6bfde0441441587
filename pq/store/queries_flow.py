"""The statements of workflows (chain, group, chord) and flow control (rate limits, per-key
concurrency). Mixed into `Queries`; like it, this module runs only SQL from pq/store/sql/.

The links themselves are written by task_finish.sql (see Queries.task_finish), in the
statement that records a step's end; here are the writes that start a workflow and the reads
of its handles.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pq.store.db import PsycopgExecutor
from pq.store.queries_texts import PlannedTexts
from pq.store.staging import finish_staged, has_raw

if TYPE_CHECKING:
    from pq.store.db import Executor, Row


class FlowQueries(PlannedTexts):
    """Workflow and flow-control statements (a mixin of `Queries`)."""

    if TYPE_CHECKING:
        channel: str
        channel_done: str

        def sql(self, name: str) -> str: ...

    def _finish_params(self, finished: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "rows": json.dumps(finished, default=str),
            "channel_done": self.channel_done,
            "channel": self.channel,
            "done_key": self.done_key,
        }

    def _finish_rows(self, ex: Executor, finished: list[dict[str, Any]]) -> list[Row]:
        """Runs task_finish or flow_finish; a batch holding a large result as the child sent
        it (RawJson) streams its rows through COPY instead (pq/store/staging.py)."""
        sql = self.sql(self._finish_statement(finished))
        if has_raw(finished) and isinstance(ex, PsycopgExecutor):
            params = {**self._finish_params([]), "rows": finished}
            return finish_staged(ex.conn, sql, params)
        return ex.fetch(sql, self._finish_params(finished))

    @property
    def done_key(self) -> int:
        """The advisory lock key (an int4, per schema) of "someone waits for task ends"."""
        return zlib.crc32(self.channel_done.encode()) - 2**31

    def listen_done(self, ex: Executor) -> None:
        """LISTENs on the done channel, then says so to the finishing workers (without the
        lock they skip the done NOTIFY: see channel_done_wait.sql). Before any row is read."""
        ex.fetch(self.sql("channel_listen").replace("{channel}", f'"{self.channel_done}"'), {})
        ex.fetch(self.sql("channel_done_wait"), {"done_key": self.done_key})

    @staticmethod
    def _finish_statement(finished: list[dict[str, Any]]) -> str:
        """task_finish, or flow_finish (the same plus workflow links) when a record is of a
        row whose completion enqueues something (its `flow` flag, from the claimed row)."""
        return "flow_finish" if any(r.get("flow") for r in finished) else "task_finish"

    @staticmethod
    def _changed(rows: list[Row]) -> dict[int, str]:
        """{id: status} of what task_finish.sql returned: the recorded rows (kind 'done') and
        the rows its workflow links inserted (kind 'new')."""
        return {int(r["id"]): str(r["status"]) for r in rows}

    def flow_reserve(
        self, ex: Executor, n: int, barriers: int = 0
    ) -> tuple[int, list[int], list[int], datetime]:
        """A new workflow id, n new task ids in order, `barriers` more ids for the pq_chords
        rows of a nested canvas (from the workflow id sequence), and the database's clock."""
        return self.flow_reserved(
            ex.fetch(self.sql("flow_reserve"), {"n": n, "barriers": barriers})[0]
        )

    @staticmethod
    def flow_reserved(row: Row) -> tuple[int, list[int], list[int], datetime]:
        """(workflow id, task ids, barrier ids, clock) of a flow_reserve row."""
        return (
            int(row["workflow_id"]),
            [int(i) for i in row["ids"] or []],
            [int(i) for i in row["barrier_ids"] or []],
            row["now"],
        )

    def flow_copy(self, ex: Executor, rows: Iterable[Sequence[Any]]) -> None:
        """Streams the first rows of a workflow into pq_tasks (columns as in flow_copy.sql)."""
        ex.copy_rows(self.sql("flow_copy"), rows)

    def flow_notify(self, ex: Executor, payloads: list[str]) -> None:
        ex.fetch(self.sql("flow_notify"), {"payloads": payloads, "channel": self.channel})

    def flow_chord_create(self, ex: Executor, barrier_id: int, total: int, callback: str) -> None:
        """Creates a chord's barrier; `callback` is the JSON text of what its firing writes."""
        ex.fetch(
            self.sql("flow_chord_create"),
            {"id": barrier_id, "total": total, "callback": callback},
        )

    def flow_chord_prune(self, ex: Executor, keep: float, limit: int) -> int:
        """Deletes up to `limit` fired barriers created more than `keep` seconds ago."""
        rows = ex.fetch(self.sql("flow_chord_prune"), {"keep": keep, "limit": limit})
        return int(rows[0]["n"])

    def flow_cancel(self, ex: Executor, workflow_id: int) -> tuple[int, list[int]]:
        """One pass of cancelling a workflow (flow_cancel.sql): (how many rows were still to
        stop in its snapshot, the ids of those it stopped)."""
        params = {"workflow_id": workflow_id, "channel": self.channel}
        rows = ex.fetch(self.sql("flow_cancel"), params)
        return int(rows[0]["seen"]), [int(r["id"]) for r in rows if r["id"] is not None]

    def flow_workflow_tasks(self, ex: Executor, workflow_id: int) -> list[Row]:
        return ex.fetch(self.sql("flow_workflow_tasks"), {"workflow_id": workflow_id})

    def flow_workflow_rows(self, ex: Executor, workflow_id: int, ids: list[int]) -> list[Row]:
        """The whole rows of `ids` that belong to the workflow (in no set order)."""
        return ex.fetch(self.sql("flow_workflow_rows"), {"workflow_id": workflow_id, "ids": ids})

    def flow_workflow_steps(self, ex: Executor, workflow_id: int) -> list[Row]:
        """The rows of a workflow in step order without their JSON columns, with `marked`
        (a cancel reached it) and `stop_requested` (the dashboard's workflow page)."""
        return ex.fetch(self.sql("flow_workflow_steps"), {"workflow_id": workflow_id})

    # -- flow control: the flow claim (pq/worker/flow.py runs these in one transaction) ------
    def flow_waiting_keys(
        self, ex: PsycopgExecutor, queues: list[str], priorities: list[int] | None, limit: int
    ) -> list[Row]:
        """Groups of due waiting rows: {rate_key, concurrency_key, rate_count, rate_seconds,
        concurrency_limit}, best first. Its values are literals in its text, as the claim's
        (PlannedTexts.claim_text: planned once, not on every call)."""
        text = self.claim_text(ex.conn, limit, queues, priorities, "flow_waiting_keys")
        return ex.fetch(text, {})

    def flow_rate_lock(self, ex: Executor, key: str, seconds: float) -> Row:
        """Locks a rate bucket: {used, oldest, now} of its current window."""
        return ex.fetch(self.sql("flow_rate_lock"), {"key": key, "seconds": seconds})[0]

    def flow_rate_record(self, ex: Executor, key: str, n: int, at: datetime) -> None:
        ex.fetch(self.sql("flow_rate_record"), {"key": key, "n": n, "at": at})

    def flow_key_lock(self, ex: Executor, key: str) -> None:
        ex.fetch(self.sql("flow_key_lock"), {"key": key})

    def flow_key_running(self, ex: Executor, key: str) -> tuple[int, datetime]:
        row = ex.fetch(self.sql("flow_key_running"), {"key": key})[0]
        return int(row["n"]), row["now"]

    def flow_claim(self, ex: PsycopgExecutor, params: dict[str, Any]) -> list[Row]:
        """Claims waiting rows of one group; `params` as in flow_claim.sql. The worker's
        queues, priorities and the limit are literals in its text (as the claim's,
        PlannedTexts.claim_text); the group's keys stay parameters: a row's keys are
        untrusted, and one text per key would never be prepared."""
        values = dict(params)
        text = self.claim_text(
            ex.conn,
            values.pop("limit"),
            values.pop("queues"),
            values.pop("priorities"),
            "flow_claim",
        )
        return ex.fetch(text, values)

    def flow_hold(self, ex: Executor, ids: list[int], columns: dict[str, Any]) -> None:
        """Makes rows a bulk COPY just wrote 'waiting' (columns: rate_key, concurrency_key,
        concurrency_limit)."""
        ex.fetch(self.sql("flow_hold"), {"ids": ids, **columns})
