"""Writing the attempts that ended, and a burst's wait for the retries it caused."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any

from pq.worker.attempt import unstorable
from pq.worker.link import DATA_ERRORS
from pq.worker.state import WorkerState

log = logging.getLogger("pq.worker")

_RETRY_GRACE = 5.0  # seconds a burst keeps looking for a due retry before giving up on it


class Recording(WorkerState):
    def _add_finished(self, record: dict[str, Any]) -> None:
        if not self.finished:
            self.first_finished_at = time.monotonic()
        self.finished.append(record)

    def _flush(self) -> None:
        if not self.finished or not self.link.up:
            return
        began = time.perf_counter()
        try:
            changed = self.link.call(
                "recording finished tasks",
                lambda ex: self.queries.task_finish(ex, self.finished),
                raise_data_errors=True,
            )
        except DATA_ERRORS:
            changed = self._record_one_by_one()
        self.metrics.timed("record", time.perf_counter() - began)
        if changed is None:
            return  # kept, and written again after the reconnect (the fence stops doubles)
        self._recorded(changed)

    def _record_one_by_one(self) -> dict[int, str] | None:
        """The batch held a value the database refuses: write each record alone, so only the
        bad one fails, and replace it by a failure that says why (never re-sent as is)."""
        log.warning(
            "the database refused a batch of %d record(s): writing them one by one",
            len(self.finished),
        )
        changed: dict[int, str] = {}
        for index, record in enumerate(self.finished):
            try:
                done = self._record_alone(record)
            except DATA_ERRORS as exc:
                log.error("task %s: its outcome cannot be stored (%s)", record["id"], exc)
                self.finished[index] = unstorable(record, exc)
                done = self._record_alone(self.finished[index])
            if done is None:
                return None  # the connection broke: the rest stays for after the reconnect
            changed.update(done)
        return changed

    def _record_alone(self, record: dict[str, Any]) -> dict[int, str] | None:
        return self.link.call(
            f"recording task {record['id']}",
            lambda ex: self.queries.task_finish(ex, [record]),
            raise_data_errors=True,
        )

    def _await_retry(self, record: dict[str, Any]) -> None:
        retry_at = record.get("retry_at")
        wait = 0.0
        if retry_at:
            wait = max(0.0, (datetime.fromisoformat(retry_at) - datetime.now(UTC)).total_seconds())
        log.info("burst: waiting %.1fs for the retry of task %s", wait, record["id"])
        self.awaited_retries[record["id"]] = time.monotonic() + wait

    def _recorded(self, changed: dict[int, str]) -> None:
        """Forgets the records just written; says which ones the fence turned away."""
        if "pending" in changed.values():
            self.maybe_work = True  # a promoted upsert version or a retry: look again
        for record in self.finished:
            if self.settings.burst and changed.get(record["id"]) == "pending":
                self._await_retry(record)
            if record["id"] not in changed:
                log.warning(
                    "task %s attempt %s: not recorded, the row moved on without this worker "
                    "(cancelled, rescued, or already recorded before a reconnect)",
                    record["id"],
                    record["attempt"],
                )
        self.finished.clear()

    def _awaiting_retries(self) -> bool:
        """A burst waits for the retries of the tasks it ran (until their backoff is over,
        plus a grace for clock skew between this host and the database), then claims them."""
        now = time.monotonic()
        for task_id, due in list(self.awaited_retries.items()):
            if now >= due:  # claim it now; later polls look again for a while
                self.maybe_work = True
                self.due_retries[task_id] = now + _RETRY_GRACE
                del self.awaited_retries[task_id]
        for task_id, give_up in list(self.due_retries.items()):
            if now >= give_up:  # another worker took it, or it was cancelled or deleted
                del self.due_retries[task_id]
        return bool(self.awaited_retries or self.due_retries)
