"""`PQ_FORK_SERVER=1`: the task children come from a fork server beside the worker loop
(pq/worker/forkserver.py). What must stay true: children die with the worker, a crash or a
kill ends only its task, timeouts kill the right process, peak RSS is still recorded, and a
fork server that dies fails only the task it was running."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from workerproc import WorkerProcess, kill_orphans, workers

from pq import PQ, OutcomeKind, TaskStatus
from taskmods import api, e2eapp, funcs
from waiting import wait_until

SERVER = {"PQ_FORK_SERVER": "1"}


def _running(pid: int) -> bool:
    """Alive and not a zombie waiting for whoever adopted it."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return fields[0] != "Z"


def _parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def _descendants(pid: int) -> list[int]:
    found, frontier = [], [pid]
    while frontier:
        path = Path(f"/proc/{frontier.pop()}/task")
        try:
            threads = [t.name for t in path.iterdir()]
        except OSError:
            continue
        for tid in threads:
            try:
                kids = (path / tid / "children").read_text().split()
            except OSError:
                continue
            found += [int(k) for k in kids]
            frontier += [int(k) for k in kids]
    return found


def _status(app: PQ, task_id: int) -> TaskStatus:
    task = app.get_task(task_id)
    assert task is not None
    return task.status


def test_kill_9_of_the_worker_leaves_no_process_of_its_fork_server_running(
    app: PQ, db_url: str, tmp_path: Path
) -> None:
    app.enqueue(e2eapp.slow_no_retry, 60)
    worker = WorkerProcess(db_url, tmp_path / "worker.log", env=SERVER)
    everyone: list[int] = []
    try:
        (child,) = wait_until(worker.children, timeout=20)
        assert _parent_of(child) != worker.pid  # the fork server's child, not the worker's
        everyone = _descendants(worker.pid)  # the server, the task, the children forked ahead
        assert child in everyone and len(everyone) >= 3
        worker.kill()
        wait_until(lambda: not any(_running(pid) for pid in everyone), timeout=10)
    finally:
        kill_orphans(everyone)


def test_kill_9_of_the_fork_server_fails_its_running_task_and_the_worker_goes_on(
    app: PQ, db_url: str, tmp_path: Path
) -> None:
    started = tmp_path / "started"
    victim = app.enqueue(api.announce_then_sleep, str(started), 60)
    with workers(db_url, tmp_path, env=SERVER) as (worker,):
        wait_until(started.exists, timeout=20)
        (child,) = worker.children()
        os.kill(_parent_of(child), signal.SIGKILL)
        wait_until(lambda: _status(app, victim) is TaskStatus.FAILED, timeout=20)
        after = app.enqueue(funcs.add, 2, 2)
        wait_until(lambda: _status(app, after) is TaskStatus.COMPLETED, timeout=20)
        assert worker.proc.poll() is None
        assert "the fork server failed" in worker.text() or "fork server exited" in worker.text()
    task = app.get_task(victim)
    assert task is not None and task.outcome is OutcomeKind.CRASH
    assert "fork server" in (task.error or "")


def test_crashes_timeouts_and_kills_end_only_their_task_with_peak_rss_recorded(
    app: PQ, db_url: str, tmp_path: Path
) -> None:
    crashed = app.enqueue(funcs.segfault)
    timed_out = app.task(funcs.spin_forever, max_runtime=1).delay().id
    started = tmp_path / "started"
    killed = app.enqueue(api.announce_then_sleep, str(started), 60)
    with workers(db_url, tmp_path, 1, "--concurrency", "3", env=SERVER) as (worker,):
        wait_until(started.exists, timeout=20)
        wait_until(lambda: _status(app, timed_out) is TaskStatus.FAILED, timeout=30)
        wait_until(lambda: _status(app, crashed) is TaskStatus.FAILED, timeout=30)
        (victim,) = worker.children()  # the only task left running: kill it as the OOM
        os.kill(victim, signal.SIGKILL)  # killer would
        wait_until(lambda: _status(app, killed) is TaskStatus.FAILED, timeout=20)
        after = app.enqueue(funcs.add, 2, 2)
        wait_until(lambda: _status(app, after) is TaskStatus.COMPLETED, timeout=20)
        assert worker.proc.poll() is None
    outcomes = {}
    for task_id in (crashed, timed_out, killed, after):
        task = app.get_task(task_id)
        assert task is not None and task.history
        assert task.history[-1].max_rss_kib  # peak RSS, from the fork server's wait4
        outcomes[task_id] = task.outcome
    assert outcomes == {
        crashed: OutcomeKind.CRASH,
        timed_out: OutcomeKind.TIMEOUT,
        killed: OutcomeKind.MEMORY,  # a SIGKILL pq did not send
        after: OutcomeKind.SUCCESS,
    }
