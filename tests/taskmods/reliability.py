"""Tasks for the reliability tests: flaky ones, hogs, and ones that leave countable traces."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pq
from pq import PQ

# Registered tasks carry their retry policy; the app's URL is never used by the children of
# these tests (they take the database from the row), only the registry is.
app = PQ("postgresql://unused.invalid/none")


def _count(path: str) -> int:
    """Appends one line and returns how many runs the file has seen (this one included)."""
    with Path(path).open("a") as f:
        f.write("run\n")
    return len(Path(path).read_text().splitlines())


def fail_until(path: str, succeed_on: int) -> int:
    """Raises until its `succeed_on`-th run; returns the run number then."""
    run = _count(path)
    if run < succeed_on:
        raise RuntimeError(f"failing on purpose, run {run}")
    return run


@app.task(retries=3, backoff=0)
def flaky(path: str, succeed_on: int) -> int:
    return fail_until(path, succeed_on)


@app.task(retries=2, backoff=0, retry_on=["timeout"])
def flaky_only_timeouts_retried(path: str) -> int:
    return fail_until(path, 99)


@app.task(retries=5)
def asks_for_retry(path: str, countdown: float) -> int:
    run = _count(path)
    if run == 1:
        raise pq.Retry(countdown=countdown, reason="not ready yet")
    return run


def crash(path: str) -> None:
    _count(path)
    os._exit(9)


def hog_memory(step_mib: int = 20, upto_mib: int = 4096) -> int:
    hoard = []
    for _ in range(upto_mib // step_mib):
        hoard.append(bytearray(step_mib * 1024 * 1024))
    return len(hoard) * step_mib


def burn_cpu() -> None:
    while True:
        pass


def parent_pid_after(seconds: float) -> int:
    """Sleeps, then returns the pid of the worker parent that ran it."""
    time.sleep(seconds)
    return os.getppid()


def count_side_effect(path: str, key: int) -> int:
    """The crash matrix's side effect: one line per run, loaded into a table to be counted.

    A single O_APPEND write of a short line is atomic, so concurrent children never mix
    lines; a file instead of a connection per run keeps 5,000 runs fast enough for CI.
    """
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{key}\t{os.getpid()}\n".encode())
    finally:
        os.close(fd)
    return key
