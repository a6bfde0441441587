"""Opt-in child reuse (`tasks_per_child=N`): a child runs up to N such tasks in a row and
they share its process; a crash or timeout still ends only the task in flight."""

from __future__ import annotations

from pathlib import Path

from pq import PQ, OutcomeKind, TaskStatus
from taskmods import funcs


def _results(app: PQ, ids: list[int]) -> list[object]:
    return [app.get_task(i).result for i in ids]  # type: ignore[union-attr]


def test_a_worker_setting_lets_a_child_run_several_tasks_in_a_row(app: PQ) -> None:
    ids = [app.enqueue(funcs.bump_counter) for _ in range(6)]
    assert app.run_worker(burst=True, tasks_per_child=3) == 6
    # one process ran the first three (its counter went on), a fresh one the next three
    assert _results(app, ids) == [1, 2, 3, 1, 2, 3]


def test_a_task_may_ask_for_reuse_while_others_keep_a_fresh_child(app: PQ) -> None:
    reused = app.task(tasks_per_child=2, name="bump_reused")(funcs.bump_counter)
    fresh = app.task(name="bump_fresh")(funcs.bump_counter)
    ids = [reused.delay().id, fresh.delay().id, reused.delay().id, fresh.delay().id]
    app.run_worker(burst=True)
    assert _results(app, ids) == [1, 1, 2, 1]


def test_a_segfault_in_a_reused_child_fails_only_its_task(app: PQ) -> None:
    before = app.enqueue(funcs.bump_counter)
    bad = app.enqueue(funcs.segfault)
    after = [app.enqueue(funcs.bump_counter) for _ in range(2)]
    assert app.run_worker(burst=True, tasks_per_child=10) == 4
    failed = app.get_task(bad)
    assert failed is not None and failed.outcome is OutcomeKind.CRASH
    assert "SIGSEGV" in (failed.error or "")
    assert _results(app, [before, *after]) == [1, 1, 2]  # the crash took its child along


def _vm_data_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmData:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmData")


def test_a_reused_child_whose_memory_grew_past_max_memory_is_replaced(app: PQ) -> None:
    # The in-process worker's children start as big as this process: the limit leaves them
    # room for their own allocations, and the task grows past it with memory it may keep.
    limit = _vm_data_bytes() + 64 * 2**20
    task = app.task(funcs.grow_rss_by, tasks_per_child=10, max_memory=limit)
    small, grows, after, later = (task.delay(n).id for n in (1, limit // 2**20, 1, 1))
    app.run_worker(burst=True)
    pids = _results(app, [small, grows, after, later])
    assert all(app.get_task(i).status is TaskStatus.COMPLETED for i in (small, grows, after))  # type: ignore[union-attr]
    assert pids[0] == pids[1]  # reused: the same child ran the first two
    assert pids[2] != pids[1]  # the grown child left after its task; a fresh one took over
    assert pids[3] == pids[2]  # and is reused in turn


def test_a_timeout_in_a_reused_child_kills_only_that_task(app: PQ) -> None:
    first = app.enqueue(funcs.bump_counter)
    stuck = app.enqueue(funcs.spin_forever)
    then = app.enqueue(funcs.bump_counter)
    app.run_worker(burst=True, tasks_per_child=10, max_runtime=1.0)
    timed_out = app.get_task(stuck)
    assert timed_out is not None and timed_out.outcome is OutcomeKind.TIMEOUT
    assert timed_out.status is TaskStatus.FAILED
    assert _results(app, [first, then]) == [1, 1]


def test_reused_tasks_record_their_own_resource_use(app: PQ) -> None:
    ids = [app.enqueue(funcs.sleep_for, 0.1) for _ in range(2)]
    app.run_worker(burst=True, tasks_per_child=2)
    for task_id in ids:
        task = app.get_task(task_id)
        assert task is not None and task.status is TaskStatus.COMPLETED
        (attempt,) = task.history
        assert attempt.duration is not None and attempt.duration >= 0.1
        assert attempt.max_rss_kib is not None and attempt.max_rss_kib > 1000
        assert attempt.cpu_seconds is not None
