"""The code of docs/enqueueing.md, run end to end (CI runs every example, so the guide's code
cannot drift from what pq does): when a task runs, client ids, upsert, bulk enqueue.

    python examples/enqueueing_guide.py
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from pq import PQ, TaskStatus

QUEUE = "guide-enqueueing"  # its own queue, so a shared database's other tasks are left alone

app = PQ()


def report() -> str:
    return "report"


@app.task(queue=QUEUE)
def report_task() -> str:
    return "report"


def process_order(order_id: int) -> int:
    return order_id


def rebuild_index(name: str) -> str:
    return f"rebuilt {name}"


@app.task(queue=QUEUE)
def rebuild_task(name: str) -> str:
    return f"rebuilt {name}"


@app.task(queue=QUEUE)
def resize(path: str, width: int = 0) -> str:
    return f"{path}@{width}"


@app.task(queue=QUEUE)
def notify(user_id: int) -> int:
    return user_id


def when() -> None:
    tomorrow_9am = (datetime.now(UTC) + timedelta(days=1)).replace(hour=9, minute=0, second=0)
    # --8<-- [start:when]
    app.enqueue(report, run_at=datetime.now(UTC) + timedelta(hours=1), queue=QUEUE)
    report_task.apply_async(countdown=30)  # 30 seconds from now
    report_task.apply_async(eta=tomorrow_9am)  # Celery's name for run_at
    # --8<-- [end:when]


def client_ids() -> None:
    # --8<-- [start:client-id]
    app.enqueue(process_order, order_id=123, client_id="order-123", queue=QUEUE)
    app.get_task_by_client_id("order-123")
    # --8<-- [end:client-id]
    task = app.get_task_by_client_id("order-123")
    assert task is not None and task.kwargs == {"order_id": 123}


def upserts() -> None:
    # --8<-- [start:upsert]
    app.upsert(rebuild_index, "docs", client_id="rebuild-docs", queue=QUEUE)
    app.upsert(rebuild_index, "docs", client_id="rebuild-docs", queue=QUEUE)  # still one task
    handle = rebuild_task.upsert("docs", client_id="rebuild-task-docs")
    # --8<-- [end:upsert]
    assert handle.status() is TaskStatus.PENDING


def bulk() -> list[int]:
    user_ids = [1, 2, 3]
    # --8<-- [start:bulk]
    ids = resize.map([("a.png", 100), ("b.png", 200)])  # tuple: positional arguments
    ids += app.enqueue_many(resize, [{"path": "c.png", "width": 50}])  # dict: keyword arguments
    ids += notify.map(user_ids)  # anything else: the one argument
    # --8<-- [end:bulk]
    return ids


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    app.run_db_migrations()
    when()
    client_ids()
    upserts()
    ids = bulk()
    app.run_worker(queues=[QUEUE], burst=True)  # runs what is due; the scheduled ones wait
    results = [app.get_task(task_id) for task_id in ids]
    assert [t.result for t in results if t] == ["a.png@100", "b.png@200", "c.png@50", 1, 2, 3]
    # leave nothing behind on a shared database: the tasks scheduled for later, then the rest
    app.purge(QUEUE, status="pending")
    app.purge(QUEUE, status="completed")
    app.close()
    print("the enqueueing guide ran")


if __name__ == "__main__":
    main()
