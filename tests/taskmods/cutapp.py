"""The app of the network-cut tests: tasks that leave a trace of each run in a file."""

from __future__ import annotations

import os
import time
from pathlib import Path

from pq import PQ

app = PQ()


def _alive(pid: int) -> bool:
    """Whether `pid` still runs (a zombie waiting to be reaped has stopped running)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def write_pid_then_sleep(path: str) -> None:
    """Writes its pid, then sleeps two minutes."""
    Path(path).write_text(str(os.getpid()))
    time.sleep(120)


overstays = app.task(write_pid_then_sleep, name="overstays", max_runtime=2, retries=0)


@app.task(retries=2, backoff=0)
def long_then_short(path: str, first_seconds: float) -> int:
    """Appends 'pid earlier-runs-still-alive' per run; the first run is long, later ones end
    at once. Returns the run number."""
    log = Path(path)
    lines = log.read_text().splitlines() if log.exists() else []
    earlier = [int(line.split()[0]) for line in lines]
    overlap = any(_alive(pid) for pid in earlier)
    with log.open("a") as f:
        f.write(f"{os.getpid()} {int(overlap)}\n")
    if not earlier:
        time.sleep(first_seconds)
    return len(earlier) + 1
