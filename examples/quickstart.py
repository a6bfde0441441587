"""pq in one file: enqueue a few tasks (one of which crashes its child), run a worker until
the queue is empty, and print what happened to each task.

    python examples/quickstart.py

With no PQ_DATABASE_URL set, pq starts its embedded development Postgres under ./.pq/.
"""

from __future__ import annotations

import ctypes
import logging
import time

from pq import PQ, Priority

app = PQ()


@app.task
def add(a: int, b: int) -> int:
    return a + b


@app.task(priority=Priority.HIGH)
def greet(name: str) -> str:
    return f"Hello, {name}!"


@app.task
def segfault() -> None:
    """Dereferences a null pointer: the child dies of SIGSEGV, the worker carries on."""
    ctypes.string_at(0)


@app.task(max_runtime=1)
def too_slow() -> None:
    time.sleep(60)


@app.task
def broken(order_id: int) -> None:
    raise ValueError(f"order {order_id} has no lines")


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    app.run_db_migrations()

    handles = [
        add.delay(2, 3),
        greet.delay("world"),
        segfault.delay(),
        too_slow.delay(),
        broken.delay(42),
        add.apply_async((20, 22), countdown=0.5),
    ]
    print(f"enqueued {len(handles)} tasks; running a worker until the queue is empty ...")
    time.sleep(0.6)  # let the delayed task come due before the burst worker looks
    processed = app.run_worker(concurrency=2, burst=True)
    print(f"worker processed {processed} tasks\n")

    for handle in handles:
        task = handle.snapshot()
        if task.status == "completed":
            detail = f"result={task.result!r}"
        else:
            last_line = (task.error or "").strip().splitlines()[-1]
            detail = f"{task.outcome}: {last_line}"
        print(f"  #{task.id:<4} {task.name:<22} {task.status:<10} {detail}")
    app.close()


if __name__ == "__main__":
    main()
