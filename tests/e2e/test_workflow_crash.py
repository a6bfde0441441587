"""A chain survives a kill -9 of its worker mid-chain: every step runs to its end once, and
no link is lost or doubled (real `pq worker` processes, killed for real)."""

from __future__ import annotations

from pathlib import Path

from workerproc import WorkerProcess, kill_orphans

from pq import PQ, chain
from taskmods import flowapp
from waiting import wait_until

APP = "taskmods.flowapp:app"


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def test_a_chain_completes_each_step_once_when_its_worker_is_killed_mid_chain(
    app: PQ, db_url: str, tmp_path: Path
) -> None:
    effects, gate = tmp_path / "effects", tmp_path / "gate"
    step, gated = app.task(flowapp.step), app.task(flowapp.gated_step, retries=2, backoff=0)
    handle = chain(
        step.s(None, "a", str(effects)),
        gated.s("b", str(effects), str(gate)),
        step.s("c", str(effects)),
    ).delay()

    first = WorkerProcess(db_url, tmp_path / "first.log", app=APP)
    try:
        wait_until(lambda: "b-started" in _lines(effects), timeout=30)
        orphans = first.children()
        first.kill()  # SIGKILL: no drain, no record of the running step
        kill_orphans(orphans)
    finally:
        first.kill()
    gate.touch()
    second = WorkerProcess(db_url, tmp_path / "second.log", app=APP)
    try:
        assert handle.result(timeout=60) == ["a", "b", "c"]
    finally:
        second.stop()
    done = [line for line in _lines(effects) if not line.endswith("-started")]
    assert done == ["a", "b", "c"]  # each step's work happened once, in order
    assert [t.workflow_step for t in handle.tasks()] == [0, 1, 2]  # one row per link
    (b_row,) = [t for t in handle.tasks() if t.workflow_step == 1]
    assert [a.outcome.value for a in b_row.history] == ["lost", "success"]
