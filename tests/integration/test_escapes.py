"""A task cannot escape its limits by leaving its process group."""

from __future__ import annotations

from pq import PQ, OutcomeKind, TaskStatus
from taskmods import hostile


# On the code before, the worker waited for this child forever (the suite timeout ends it).
def test_a_task_that_left_its_process_group_is_still_killed_at_max_runtime(app: PQ) -> None:
    task = app.task(max_runtime=1)(hostile.leave_own_group_then_sleep)
    handle = task.delay(3600)
    assert app.run_worker(burst=True) == 1
    ended = handle.snapshot()
    assert ended.status is TaskStatus.FAILED
    assert ended.outcome is OutcomeKind.TIMEOUT
