"""The retry code of docs/reliability.md, run end to end (CI runs every example, so the guide's
code cannot drift from what pq does): a task that fails twice and completes on its third
attempt, each attempt in its own child, with the backoff between them.

    python examples/reliability_guide.py
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

import pq
from pq import PQ

QUEUE = "guide-reliability"  # its own queue, so a shared database's other tasks are left alone
COUNTER = Path(tempfile.gettempdir()) / f"pq-reliability-guide-{os.getpid()}"

app = PQ()


# --8<-- [start:retries]
@app.task(retries=3, queue=QUEUE)  # 4 attempts in all
def sync(account: int) -> str:
    attempt = int(COUNTER.read_text() or 0) + 1 if COUNTER.exists() else 1
    COUNTER.write_text(str(attempt))  # each attempt runs in a fresh child: count on disk
    if attempt < 3:
        raise ConnectionError(f"account {account}: partner API unreachable (attempt {attempt})")
    return f"account {account} synced on attempt {attempt}"


@app.task(retries=5, retry_on=["exception", "crash"], backoff=pq.Backoff(base=2, cap=60))
def flaky_native_call() -> None: ...


# --8<-- [end:retries]


def main() -> None:
    logging.basicConfig(level=logging.ERROR)
    app.run_db_migrations()
    # --8<-- [start:per-call]
    handle = sync.apply_async((7,), retries=10, backoff=0.2)  # per call: overrides the task's
    # --8<-- [end:per-call]
    try:
        app.run_worker(queues=[QUEUE], burst=True)  # a burst waits for the retries it causes
        print(handle.result(timeout=30))
        task = handle.snapshot()
        assert task.attempts == 3, task
    finally:
        COUNTER.unlink(missing_ok=True)
        app.close()
    print("the reliability guide ran")


if __name__ == "__main__":
    main()
