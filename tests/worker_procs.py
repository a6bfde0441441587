"""Real `pq worker` processes for tests: started with the real command, stopped by SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

TESTS = Path(__file__).resolve().parent
PQ_COMMAND = [sys.executable, "-c", "from pq.cli import main; main()"]


def pq_env(db_url: str, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PQ_DATABASE_URL"] = db_url
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS), env.get("PYTHONPATH", "")])
    env.update(extra)
    return env


def run_pq(db_url: str, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    """Runs one `pq ...` command to its end and returns what it printed."""
    return subprocess.run(
        [*PQ_COMMAND, *args],
        env=pq_env(db_url, **extra),
        cwd=TESTS,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@contextmanager
def running_workers(
    db_url: str,
    count: int,
    log_dir: Path,
    *,
    app: str = "taskmods.periodic_app:app",
    args: Sequence[str] = (),
    **extra: str,
) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Starts `count` workers; on exit sends SIGTERM and waits for each to drain and stop."""
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for n in range(count):
            log = (log_dir / f"worker{n}.log").open("wb")
            procs.append(
                subprocess.Popen(
                    [*PQ_COMMAND, "worker", app, *args],
                    env=pq_env(db_url, **extra),
                    cwd=TESTS,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
        yield procs
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
