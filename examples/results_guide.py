"""The code of docs/results.md, run end to end (CI runs every example, so the guide's code
cannot drift from what pq does): handles, waiting for a value, and a failure's traceback.

    python examples/results_guide.py
"""

from __future__ import annotations

import logging

from pq import PQ, TaskFailedError, TaskStatus

QUEUE = "example-results"  # its own queue, so a shared database's other tasks are left alone

app = PQ()
log = logging.getLogger("results-guide")


@app.task(queue=QUEUE)
def add(a: int, b: int) -> int:
    return a + b


@app.task(queue=QUEUE)
def reserve_stock(sku: str) -> None:
    raise ValueError(f"{sku}: out of stock")


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    app.run_db_migrations()

    # --8<-- [start:handle]
    handle = add.delay(2, 3)
    print(handle.id)  # the task id
    print(handle.status())  # TaskStatus.PENDING / RUNNING / COMPLETED / FAILED / CANCELLED
    print(handle.snapshot().attempts)  # the full Task snapshot (status, attempts, error, result)
    # --8<-- [end:handle]
    assert handle.status() is TaskStatus.PENDING

    failing = reserve_stock.delay("SKU-42")
    app.run_worker(burst=True, queues=[QUEUE])  # elsewhere: `pq worker APP` in its own process

    # --8<-- [start:result]
    value = handle.result(timeout=30)  # waits for the end: 5
    print(value, handle.status())  # 5 completed (TaskStatus.COMPLETED)
    print(handle.get(timeout=30))  # the same, the way Celery's AsyncResult.get() is called
    print(handle.cancel())  # False: it has already ended
    # --8<-- [end:result]
    assert value == 5

    handle = failing
    # --8<-- [start:failure]
    try:
        handle.result(timeout=60)
    except TaskFailedError as exc:
        log.error("task %s failed:\n%s", exc.task_id, exc.remote_traceback)
    # --8<-- [end:failure]
    try:
        handle.result(timeout=1)
    except TaskFailedError as exc:
        assert "ValueError: SKU-42: out of stock" in (exc.remote_traceback or "")
    app.close()
    print("the results guide ran")


if __name__ == "__main__":
    main()
