"""flow_finish.sql is task_finish.sql plus the workflow links: their UPDATE must stay the same
text, or a task would be recorded differently depending on the batch it ended in."""

from __future__ import annotations

from pq.store.queries import Queries


def _update_part(text: str) -> str:
    start = text.index('UPDATE "public".pq_tasks AS t')
    return text[start : text.index("FROM finished AS f", start)]


def test_the_recording_update_is_the_same_with_and_without_workflow_links() -> None:
    queries = Queries("public")
    plain, flow = queries.sql("task_finish"), queries.sql("flow_finish")
    start = plain.index('UPDATE "public".pq_tasks AS t')
    assert start > 0
    assert _update_part(plain) == _update_part(flow)


def test_only_batches_with_workflow_rows_use_the_longer_statement() -> None:
    records = [{"id": 1, "flow": False}, {"id": 2, "flow": False}]
    assert Queries._finish_statement(records) == "task_finish"
    assert Queries._finish_statement([*records, {"id": 3, "flow": True}]) == "flow_finish"
