"""Real `pq worker` processes for the end-to-end tests, and ways to hurt them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
PQ_BIN = Path(sys.executable).with_name("pq")

# Short enough that a rescue happens within seconds; the heartbeat stays well inside it.
FAST_ENV = {"PQ_LEASE": "4", "PQ_HEARTBEAT_INTERVAL": "0.5", "PQ_POLL_INTERVAL": "0.5"}


class WorkerProcess:
    """One `pq worker taskmods.e2eapp:app` (or `app`) subprocess; its log goes to a file."""

    def __init__(
        self,
        db_url: str,
        log: Path,
        *args: str,
        env: dict[str, str] | None = None,
        app: str = "taskmods.e2eapp:app",
    ):
        self.log = log
        full_env = {
            **os.environ,
            **FAST_ENV,
            "PQ_DATABASE_URL": db_url,
            "PYTHONPATH": str(ROOT / "tests"),
            **(env or {}),
        }
        self._log_file = log.open("ab")
        self.proc = subprocess.Popen(
            [str(PQ_BIN), "worker", app, *args],
            env=full_env,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def children(self) -> list[int]:
        """The pids of its task children (read from /proc, no extra dependency).

        Only children that lead their own process group count: a task child does that at
        once, while other short-lived children (croniter's import runs `file` through
        platform.architecture()) stay in the worker's group and must not be taken for tasks.
        """
        pids = _children_of(self.pid)
        leaders = [pid for pid in pids if _process_group(pid) == pid]
        # With PQ_FORK_SERVER=1 the task children are the fork server's: it stays in the
        # worker's group, and so do its children until they have a task.
        for pid in pids:
            if pid not in leaders:
                leaders += [c for c in _children_of(pid) if _process_group(c) == c]
        return leaders

    def signal(self, signum: int) -> None:
        os.kill(self.pid, signum)

    def stop(self, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        finally:
            self._log_file.close()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._log_file.close()


def _children_of(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    try:
        return [int(p) for p in path.read_text().split()]
    except (FileNotFoundError, ProcessLookupError):  # it has just exited
        return []


def _process_group(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):  # the child ended between the two reads
        return None
    # fields after the parenthesised command name: state, ppid, pgrp, ...
    return int(stat.rsplit(")", 1)[1].split()[2])


@contextmanager
def workers(
    db_url: str, tmp: Path, count: int = 1, *args: str, **kw: object
) -> Iterator[list[WorkerProcess]]:
    procs = [
        WorkerProcess(db_url, tmp / f"worker{i}.log", *args, **kw)  # type: ignore[arg-type]
        for i in range(count)
    ]
    try:
        yield procs
    except BaseException:
        # pytest shows captured output of a failed test: the workers' logs say why
        for p in procs:
            print(f"--- log of worker pid {p.pid} ({p.log.name}):\n{p.text()}")
        raise
    finally:
        for p in procs:
            p.kill()


def registered_workers(db_url: str) -> int:
    with psycopg.connect(db_url, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM pq_workers WHERE stopped_at IS NULL").fetchone()
    return int(row[0]) if row else 0


def terminate_backends(db_url: str) -> int:
    """pg_terminate_backend on every other session of this test's database."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
    return len(rows)


def kill_orphans(pids: list[int]) -> None:
    for pid in pids:
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
