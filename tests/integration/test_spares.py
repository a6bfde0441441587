"""Spare children (`spares=N`): forked ahead and waiting, each runs exactly one task handed
to it and exits; isolation is that of a fresh child; idle ones are replaced after a while."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from pq import PQ, OutcomeKind, TaskStatus
from taskmods import funcs
from waiting import wait_until


def _idle_children() -> set[int]:
    """This process's children that lead their own process group (spares and task children
    of the in-process worker)."""
    me = os.getpid()
    try:
        pids = Path(f"/proc/{me}/task/{me}/children").read_text().split()
    except OSError:
        return set()
    leaders = set()
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] != "Z" and int(fields[2]) == int(pid):
            leaders.add(int(pid))
    return leaders


def _worker_while(app: PQ, act: Callable[[], None], **options: object) -> None:
    """Runs an in-process worker until `act` (in a thread) is done, then stops it."""
    failure: list[BaseException] = []

    def act_then_stop() -> None:
        try:
            act()
        except BaseException as exc:  # reported by the test's own thread
            failure.append(exc)
        os.kill(os.getpid(), signal.SIGTERM)

    thread = threading.Thread(target=act_then_stop, daemon=True)
    thread.start()
    app.run_worker(drain_timeout=5, **options)  # type: ignore[arg-type]
    thread.join()
    if failure:
        raise failure[0]


def test_a_waiting_spare_runs_the_next_task_alone_then_is_replaced(db_url: str) -> None:
    app, producer = PQ(db_url), PQ(db_url)
    seen: dict[str, object] = {}

    def enqueue_onto_the_spare() -> None:
        (spare,) = wait_until(_idle_children, timeout=30)
        handle = producer.task(funcs.my_pid).delay()
        seen["ran_in"] = handle.result(timeout=30)
        seen["spare"] = spare
        # it exited after its one task, and a new spare waits in its place
        seen["after"] = wait_until(lambda: (c := _idle_children()) and spare not in c and c, 30)

    _worker_while(app, enqueue_onto_the_spare, spares=1)
    assert seen["ran_in"] == seen["spare"]
    assert len(seen["after"]) == 1  # type: ignore[arg-type]
    assert wait_until(lambda: not _idle_children(), timeout=30)  # none left after the stop
    producer.close()


def test_each_task_still_gets_a_fresh_process(app: PQ) -> None:
    ids = [app.enqueue(funcs.bump_counter) for _ in range(4)]
    app.run_worker(burst=True, spares=2)
    assert [app.get_task(i).result for i in ids] == [1, 1, 1, 1]  # type: ignore[union-attr]


def test_a_segfault_in_a_task_run_by_a_spare_fails_only_that_task(app: PQ) -> None:
    bad = app.enqueue(funcs.segfault)
    good = app.enqueue(funcs.add, 2, 3)
    assert app.run_worker(burst=True, spares=1) == 2
    failed, done = app.get_task(bad), app.get_task(good)
    assert failed is not None and failed.outcome is OutcomeKind.CRASH
    assert "SIGSEGV" in (failed.error or "")
    assert done is not None and done.status is TaskStatus.COMPLETED and done.result == 5


def test_a_spare_never_runs_a_task_of_a_queue_the_worker_does_not_serve(app: PQ) -> None:
    other = app.task(queue="other")(funcs.add).delay(1, 1)
    mine = app.task(queue="mine")(funcs.add).delay(2, 2)
    app.run_worker(burst=True, spares=2, queues=["mine"])
    assert mine.status() is TaskStatus.COMPLETED
    assert other.status() is TaskStatus.PENDING


def test_a_spare_idle_too_long_is_replaced(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PQ_SPARE_MAX_IDLE", "0.3")
    app = PQ(db_url)
    replaced: list[int] = []

    def watch_it_change() -> None:
        (first,) = wait_until(_idle_children, timeout=30)
        replaced.extend(wait_until(lambda: (c := _idle_children()) and first not in c and c, 30))

    _worker_while(app, watch_it_change, spares=1)
    assert len(replaced) == 1
