"""The statements of workflows (chain, group, chord) and flow control (rate limits, per-key
concurrency). Mixed into `Queries`; like it, this module runs only SQL from pq/store/sql/.

The links themselves are written by task_finish.sql (see Queries.task_finish), in the
statement that records a step's end; here are the writes that start a workflow and the reads
of its handles.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pq.store.db import Executor, Row


class FlowQueries:
    """Workflow and flow-control statements (a mixin of `Queries`)."""

    if TYPE_CHECKING:
        channel: str

        def sql(self, name: str) -> str: ...

    def flow_reserve(self, ex: Executor, n: int) -> tuple[int, list[int], datetime]:
        """A new workflow id, n new task ids in order, and the database's clock."""
        row = ex.fetch(self.sql("flow_reserve"), {"n": n})[0]
        return int(row["workflow_id"]), [int(i) for i in row["ids"] or []], row["now"]

    def flow_copy(self, ex: Executor, rows: Iterable[Sequence[Any]]) -> None:
        """Streams the first rows of a workflow into pq_tasks (columns as in flow_copy.sql)."""
        ex.copy_rows(self.sql("flow_copy"), rows)

    def flow_notify(self, ex: Executor, payloads: list[str]) -> None:
        ex.fetch(self.sql("flow_notify"), {"payloads": payloads, "channel": self.channel})

    def flow_chord_create(
        self, ex: Executor, workflow_id: int, total: int, callback: dict[str, Any]
    ) -> None:
        ex.fetch(
            self.sql("flow_chord_create"),
            {"id": workflow_id, "total": total, "callback": json.dumps(callback)},
        )

    def flow_workflow_tasks(self, ex: Executor, workflow_id: int) -> list[Row]:
        return ex.fetch(self.sql("flow_workflow_tasks"), {"workflow_id": workflow_id})
