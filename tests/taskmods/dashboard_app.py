"""The app the dashboard's browser tests drive: its database comes from PQ_DATABASE_URL."""

from __future__ import annotations

import os
import time
from datetime import timedelta
from pathlib import Path

from pq import PQ

app = PQ()


@app.task(queue="web")
def fails_until(flag: str) -> str:
    """Fails until the file `flag` exists: a task that an operator fixes, then retries."""
    if not os.path.exists(flag):
        raise ValueError(f"flag file {flag} is missing")
    return "recovered"


@app.task(queue="web")
def import_batch(source: str, batch: int) -> int:
    """Fails until the file `source` exists: several fail, one click retries them all."""
    if not os.path.exists(source):
        raise RuntimeError(f"batch {batch}: {source} is not there yet")
    return batch


@app.task(queue="web")
def returns_markup() -> str:
    """A result that would run script if a page put it in as HTML."""
    return "<script>window.pqPwned = 1</script><b id='pq-bold'>bold</b>"


@app.task(queue="web")
def waits(started: str, seconds: float = 120) -> str:
    """Says it started (the file `started`), then runs until it is stopped: the running step
    of a workflow that an operator cancels. Ends by itself after `seconds`, so a failing test
    leaves no task running for good."""
    Path(started).write_text("started")
    time.sleep(seconds)
    return "not stopped"


@app.task(queue="web")
def add(a: int, b: int) -> int:
    return a + b


@app.task(queue="held")
def held(n: int) -> int:
    return n


@app.periodic(run_every=timedelta(hours=6), queue="web")
def six_hourly_report() -> str:
    return "report"
