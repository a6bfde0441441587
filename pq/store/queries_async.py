"""The enqueue statements on a caller's async connection (pq.store.db_async). Mixed into
`Queries`; the same statement files and parameters as the sync methods beside them in
queries.py and queries_flow.py, awaited instead of called."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pq.store.rows import copy_rows_text, task_copy_text

if TYPE_CHECKING:
    from pq.store.db import Row
    from pq.store.db_async import AsyncExecutor
    from pq.store.rows import NewTaskRow


class AsyncQueries:
    """Async counterparts of task_insert, task_upsert, the bulk statements and the start of a
    workflow (a mixin of `Queries`)."""

    if TYPE_CHECKING:
        channel: str

        def sql(self, name: str) -> str: ...
        @staticmethod
        def reserved(row: Row) -> tuple[list[int], datetime]: ...
        @staticmethod
        def flow_reserved(row: Row) -> tuple[int, list[int], list[int], datetime]: ...

    async def atask_insert(self, ex: AsyncExecutor, row: NewTaskRow, *, notify: bool) -> int:
        return await ex.fetch_id(self.sql("task_insert"), row.params(self.channel, notify))

    async def atask_upsert(self, ex: AsyncExecutor, row: NewTaskRow) -> Row:
        return (await ex.fetch(self.sql("task_upsert"), row.params(self.channel)))[0]

    async def atask_reserve_ids(self, ex: AsyncExecutor, n: int) -> tuple[list[int], datetime]:
        return self.reserved((await ex.fetch(self.sql("task_reserve_ids"), {"n": n}))[0])

    async def atask_copy(
        self,
        ex: AsyncExecutor,
        ids: Sequence[int],
        rows: Iterable[tuple[str, str, str]],
        **shared: Any,
    ) -> None:
        await ex.copy_text(self.sql("task_copy"), task_copy_text(ids, rows, **shared))

    async def atask_notify_queues(self, ex: AsyncExecutor, queues: list[str]) -> None:
        await ex.fetch(self.sql("task_notify_queues"), {"queues": queues, "channel": self.channel})

    async def aflow_hold(self, ex: AsyncExecutor, ids: list[int], columns: dict[str, Any]) -> None:
        await ex.fetch(self.sql("flow_hold"), {"ids": ids, **columns})

    async def aflow_notify(self, ex: AsyncExecutor, payloads: list[str]) -> None:
        await ex.fetch(self.sql("flow_notify"), {"payloads": payloads, "channel": self.channel})

    async def aflow_reserve(
        self, ex: AsyncExecutor, n: int, barriers: int = 0
    ) -> tuple[int, list[int], list[int], datetime]:
        params = {"n": n, "barriers": barriers}
        return self.flow_reserved((await ex.fetch(self.sql("flow_reserve"), params))[0])

    async def aflow_chord_create(
        self, ex: AsyncExecutor, barrier_id: int, total: int, callback: str
    ) -> None:
        params = {"id": barrier_id, "total": total, "callback": callback}
        await ex.fetch(self.sql("flow_chord_create"), params)

    async def aflow_copy(self, ex: AsyncExecutor, rows: Iterable[Sequence[Any]]) -> None:
        """flow_copy over an async connection: the same COPY, the rows sent as COPY text."""
        await ex.copy_text(self.sql("flow_copy"), copy_rows_text(rows))
