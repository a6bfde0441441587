"""The code of docs/tasks.md, run end to end (CI runs every example, so the guide's code cannot
drift from what pq does): declaring tasks, priorities, queues, cancelling, reading and
cleaning, hooks.

    python examples/tasks_guide.py
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from pq import PQ, Priority, Task, TaskStatus

# Queues of its own, so a shared database's other tasks are left alone.
EMAILS, URGENT, REPORTS = "guide-emails", "guide-urgent-emails", "guide-reports"

# --8<-- [start:declare]
app = PQ()  # PQ_DATABASE_URL, else the embedded development database


# 1. Registered with options (Celery style)
@app.task(priority=Priority.HIGH, queue=EMAILS, retries=3, max_runtime=60)
def send_email(to: str, subject: str) -> None: ...


# 2. Any importable function of the app's package, no decorator needed
def greet(name: str) -> str:
    return f"Hello, {name}"


# --8<-- [end:declare]

SPANS: list[str] = []


# --8<-- [start:hooks]
def start_span(task: Task) -> None:
    print(f"child of task {task.id}: starting {task.name}")  # e.g. open a tracing span here


def end_span(task: Task, error: BaseException | None) -> None:
    print(f"child of task {task.id}: ended, error={error!r}")


# --8<-- [end:hooks]


def declare_and_enqueue() -> int:
    # --8<-- [start:enqueue]
    send_email.delay("a@b.com", subject="Hi")  # enqueue; returns a TaskHandle
    send_email("a@b.com", subject="Hi")  # a direct call runs inline, right here
    task_id = app.enqueue(greet, "World", queue=REPORTS)  # returns the task id (an int)
    # --8<-- [end:enqueue]
    return task_id


def priorities_and_queues() -> None:
    # --8<-- [start:priorities]
    # burst=True: return once nothing is left (so this guide ends; a real worker keeps going)
    app.run_worker(priorities={Priority.CRITICAL, Priority.HIGH}, queues=[EMAILS], burst=True)
    # --8<-- [end:priorities]
    # --8<-- [start:queues]
    send_email.apply_async(("a@b.com", "Hi"), queue=URGENT)  # per call
    app.enqueue(greet, "x", queue=REPORTS)

    app.run_worker(queues=[EMAILS, URGENT], burst=True)  # REPORTS waits for its own worker
    # --8<-- [end:queues]


def allow_lists() -> list[PQ]:
    # --8<-- [start:include]
    app = PQ(include=["myapp.jobs", "shared_tasks"])  # or PQ_INCLUDE=myapp.jobs,shared_tasks
    app = PQ(include=[])  # registered tasks only
    # --8<-- [end:include]
    return [app]


def cancelling() -> None:
    # --8<-- [start:cancel]
    task_id = app.enqueue(greet, "x", queue=REPORTS)
    app.cancel(task_id)  # True: cancelled (pending) or asked to stop (running)
    handle = send_email.delay("a@b.com", subject="Hi")
    handle.cancel()
    # --8<-- [end:cancel]
    assert handle.status() is TaskStatus.CANCELLED


def reading_and_cleaning(task_id: int) -> None:
    # --8<-- [start:reading]
    task = app.get_task(task_id)  # Task | None
    for failed in app.list_failed(limit=50):  # newest first
        print(failed.name, failed.error)
    app.list_completed(limit=10)
    app.pending_count()  # waiting tasks, due or not
    app.clear_failed(before=datetime.now(UTC) - timedelta(days=7))  # returns how many
    app.clear_completed(before=datetime.now(UTC) - timedelta(days=1))
    # --8<-- [end:reading]
    assert task is not None and task.result == "Hello, World"


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    app.run_db_migrations()
    task_id = declare_and_enqueue()
    priorities_and_queues()
    # the hooks run in each child, around the task
    # --8<-- [start:run-hooks]
    app.run_worker(pre_execute=start_span, post_execute=end_span, queues=[REPORTS], burst=True)
    # --8<-- [end:run-hooks]
    allow_lists()
    cancelling()
    reading_and_cleaning(task_id)
    app.close()
    print("the tasks guide ran")


if __name__ == "__main__":
    main()
