"""Tasks for the connection-budget tests: each enqueues from inside its child, then holds its
slot until the test lets it go, so the test can count connections while all of them run."""

from __future__ import annotations

import os
import time
from pathlib import Path

from pq import PQ
from taskmods import funcs

app = PQ()  # PQ_DATABASE_URL


@app.task(queue="budget")
def enqueue_then_hold(release: str) -> int:
    app.enqueue(funcs.noop, queue="parked")  # nobody takes "parked": the rows just stay
    app.enqueue(funcs.noop, queue="parked")  # a second enqueue reuses the same connection
    Path(f"{release}.{os.getpid()}").touch()  # tells the test this child has enqueued
    while not Path(release).exists():
        time.sleep(0.02)
    return os.getpid()
