"""Supervision never waits on the database: a silent network cut (nothing forwarded, no reset)
between a real `pq worker` and Postgres must not stop it killing overdue tasks, acting on
SIGTERM, or stepping back before a peer may rescue its tasks.

The worker reaches the database through a proxy written here (tests/netcut.py); freezing it
is the cut. Bounds are behavioural and generous (the machine is shared): "killed within 10 s
while the cut lasts 30 s", never a speed.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from netcut import FreezableProxy
from workerproc import WorkerProcess, kill_orphans, workers

from pq import PQ, OutcomeKind, TaskStatus
from taskmods import cutapp
from waiting import wait_until

APP = "taskmods.cutapp:app"
# Direct LISTEN through the proxy too (it is no pooler), and a short lease: a rescue in seconds.
FAST = {"PQ_POOLED": "0", "PQ_LEASE": "4", "PQ_HEARTBEAT_INTERVAL": "0.5"}


@pytest.fixture
def proxy(db_url: str) -> Iterator[FreezableProxy]:
    p = FreezableProxy(db_url)
    yield p
    p.close()


def _running(pid: int) -> bool:
    return cutapp._alive(pid)


def _runs(path: Path) -> list[tuple[int, bool]]:
    """(pid, an earlier run was still alive when it started) for each run so far."""
    if not path.exists():
        return []
    return [(int(p), o == "1") for p, o in (line.split() for line in path.read_text().splitlines())]


def test_max_runtime_is_enforced_while_the_database_is_cut_off(
    app: PQ, db_url: str, proxy: FreezableProxy, tmp_path: Path
) -> None:
    pid_file = tmp_path / "pid"
    task_id = app.enqueue(cutapp.overstays, str(pid_file))  # max_runtime=2
    # A long lease: only max_runtime can explain a kill within the cut.
    env = {**FAST, "PQ_LEASE": "60"}
    child = 0
    try:
        with workers(proxy.url(), tmp_path, 1, env=env, app=APP) as (worker,):
            child = int(wait_until(lambda: pid_file.exists() and pid_file.read_text(), 30))
            proxy.freeze()
            cut_at = time.monotonic()
            # The cut lasts 30 s; the task must be dead long before (max_runtime 2 + slack).
            wait_until(lambda: not _running(child), timeout=10)
            assert time.monotonic() - cut_at < 10
            assert worker.proc.poll() is None  # the worker rode out the cut
            proxy.heal()

            wait_until(lambda: _has_status(app, task_id, TaskStatus.FAILED), timeout=60)
            assert worker.stop() == 0
        task = app.get_task(task_id)
        assert task is not None and len(task.history) == 1
        assert task.history[0].outcome is OutcomeKind.TIMEOUT
    finally:
        if child:
            kill_orphans([child])


def test_sigterm_during_a_cut_stops_the_worker_and_a_peer_reruns_the_task_once(
    app: PQ, db_url: str, proxy: FreezableProxy, tmp_path: Path
) -> None:
    runs = tmp_path / "runs"
    task_id = app.enqueue(cutapp.long_then_short, str(runs), 60)  # retries=2
    env = {**FAST, "PQ_DRAIN_TIMEOUT": "1"}
    first = 0
    try:
        worker = WorkerProcess(proxy.url(), tmp_path / "cut.log", env=env, app=APP)
        try:
            first = wait_until(lambda: _runs(runs), timeout=30)[0][0]
            proxy.freeze()
            # Into the cut: the worker sent a statement that gets no answer and waits on it.
            wait_until(proxy.holds_unanswered_bytes, timeout=30)
            worker.signal(signal.SIGTERM)
            stopped_at = time.monotonic()
            worker.proc.wait(15)  # a few seconds, not the 20 s of a TCP timeout
            assert time.monotonic() - stopped_at < 15
            assert not _running(first)  # its task died with the stop, not left behind
        except BaseException:
            print(worker.text())
            raise
        finally:
            worker.kill()
        proxy.heal()
        # A peer with a working connection rescues the task (its attempt ends interrupted or
        # lost) and runs it again: once, after the first run is gone.
        with workers(db_url, tmp_path, 1, env=env, app=APP):
            wait_until(lambda: _has_status(app, task_id, TaskStatus.COMPLETED), timeout=60)
        task = app.get_task(task_id)
        assert task is not None
        assert [h.outcome for h in task.history][-1] is OutcomeKind.SUCCESS
        assert task.history[0].outcome in (OutcomeKind.INTERRUPTED, OutcomeKind.LOST)
        assert len(task.history) == 2  # recorded once per run, never twice
        assert [overlap for _, overlap in _runs(runs)] == [False, False]
    finally:
        if first:
            kill_orphans([first])


def test_a_worker_cut_off_past_its_lease_stops_its_task_before_a_peer_reruns_it(
    app: PQ, db_url: str, proxy: FreezableProxy, tmp_path: Path
) -> None:
    runs = tmp_path / "runs"
    task_id = app.enqueue(cutapp.long_then_short, str(runs), 60)
    env = FAST
    first = 0
    try:
        with workers(proxy.url(), tmp_path, 1, env=env, app=APP) as (cut_off,):
            first = wait_until(lambda: _runs(runs), timeout=30)[0][0]
            proxy.freeze()  # for longer than the lease: the peer below declares it lost
            peer_logs = tmp_path / "peer"
            peer_logs.mkdir()
            with workers(db_url, peer_logs, 1, env=env, app=APP) as (peer,):
                second = wait_until(lambda: len(_runs(runs)) >= 2, timeout=60)
                assert second
                proxy.heal()

                wait_until(lambda: _has_status(app, task_id, TaskStatus.COMPLETED), timeout=60)
                # The cut-off worker reconnects and writes the record it kept, which the
                # fence turns away (the peer's rescue moved the row on).
                wait_until(lambda: "not recorded, the row moved on" in cut_off.text(), timeout=60)
                assert cut_off.proc.poll() is None and peer.proc.poll() is None
        task = app.get_task(task_id)
        assert task is not None and task.status is TaskStatus.COMPLETED
        # The second run began after the first was stopped: never two at once.
        assert [overlap for _, overlap in _runs(runs)] == [False, False]
        assert len(task.history) == 2  # the cut-off worker's own record was fenced out
    finally:
        if first:
            kill_orphans([first])


def _has_status(app: PQ, task_id: int, status: TaskStatus) -> bool:
    task = app.get_task(task_id)
    return task is not None and task.status is status
