"""Resource limits are applied in the child before the task runs, and named when they hit."""

from __future__ import annotations

from pq import PQ, OutcomeKind, TaskStatus
from pq.worker.loop import Hooks, build_worker_settings
from taskmods import funcs, reliability


def test_a_task_over_its_max_memory_fails_as_memory_naming_the_limit(app: PQ) -> None:
    hog = app.task(reliability.hog_memory, max_memory="300MiB")
    handle = hog.delay()
    after = app.enqueue(funcs.add, 1, 1)

    app.run_worker(burst=True)

    task = handle.snapshot()
    assert task.status is TaskStatus.FAILED and task.outcome is OutcomeKind.MEMORY
    assert "max_memory=300 MiB" in (task.error or "")
    (attempt,) = task.history
    assert attempt.max_rss_kib is not None and attempt.max_rss_kib < 400 * 1024
    assert app.get_task(after).status is TaskStatus.COMPLETED  # type: ignore[union-attr]


def test_the_worker_max_memory_applies_to_tasks_without_their_own(app: PQ) -> None:
    task_id = app.enqueue(reliability.hog_memory)

    app.run_worker(burst=True, max_memory="250MiB")

    task = app.get_task(task_id)
    assert task is not None and task.outcome is OutcomeKind.MEMORY
    assert "max_memory=250 MiB" in (task.error or "")


def test_a_task_limit_wins_over_the_worker_limit(app: PQ) -> None:
    small = app.task(reliability.hog_memory, max_memory="200MiB")
    handle = small.delay(step_mib=10, upto_mib=300)
    settings = build_worker_settings(burst=True, max_memory="2GiB")

    app.run_worker_with(settings, Hooks())

    assert "max_memory=200 MiB" in (handle.snapshot().error or "")


def test_a_task_within_its_limit_runs_normally(app: PQ) -> None:
    modest = app.task(reliability.hog_memory, max_memory="1GiB")
    handle = modest.delay(step_mib=10, upto_mib=100)

    app.run_worker(burst=True)

    assert handle.snapshot().status is TaskStatus.COMPLETED and handle.snapshot().result == 100


def test_max_cpu_stops_a_spinning_task(app: PQ) -> None:
    spinner = app.task(reliability.burn_cpu, max_cpu=1)
    handle = spinner.delay()

    app.run_worker(burst=True)

    task = handle.snapshot()
    assert task.outcome is OutcomeKind.TIMEOUT
    assert "max_cpu" in (task.error or "")
    # The CPU it used is recorded; how much the kernel's sampling counts by the time SIGXCPU
    # lands varies with load, so the amount is not asserted.
    assert task.history[0].cpu_seconds is not None and task.history[0].cpu_seconds > 0
