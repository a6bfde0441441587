"""The SQL files that repeat a part of another (one statement per file) keep that part the same
text: flow_finish.sql is task_finish.sql plus the workflow links, and the flow claims find
their priority levels as task_claim.sql does."""

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


def _levels_part(text: str) -> str:
    """The claim's `wanted` and `found` CTEs: the priorities present in the worker's queues,
    found by a loose index scan (see task_claim.sql)."""
    start = text.index("WITH RECURSIVE wanted AS (")
    return text[start : text.index("levels AS (", start)]


def test_the_three_range_reading_claims_find_pending_priorities_the_same_way() -> None:
    # task_claim.sql reads pending rows, the two flow statements waiting rows; one statement
    # per file means the shared CTEs are written three times, and must not drift apart.
    queries = Queries("public")
    pending = _levels_part(queries.sql("task_claim"))
    assert "status = 'pending'" in pending and "lower_one" in pending
    for name in ("flow_claim", "flow_waiting_keys"):
        waiting = _levels_part(queries.sql(name))
        assert waiting.replace("status = 'waiting'", "status = 'pending'") == pending, name


def _cancel_part(text: str) -> str:
    """What a cancel does to one task row: task_cancel.sql's SET, up to cancel_requested_at."""
    start = text.index("SET status      = CASE WHEN target.status <> 'running'")
    end = text.index("END", text.index("cancel_requested_at = CASE", start)) + len("END")
    return text[start:end]


def test_a_workflow_cancel_stops_each_task_as_a_single_cancel_does() -> None:
    # flow_cancel.sql cancels every unfinished row of a workflow and adds only the flow mark:
    # a running row must get exactly what task_cancel.sql gives it (the worker kills it)
    queries = Queries("public")
    single, workflow = queries.sql("task_cancel"), queries.sql("flow_cancel")
    assert _cancel_part(single) == _cancel_part(workflow)
    assert "pg_notify(%(channel)s, 'c:' || c.id::text)" in workflow
    assert "FOR UPDATE SKIP LOCKED" in workflow  # never waits on a worker recording a step
