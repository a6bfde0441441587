"""A chain (also one with a group inside) survives a kill -9 of its worker mid-chain: every
step runs to its end once, and no link is lost or doubled (real `pq worker` processes, killed
for real)."""

from __future__ import annotations

from pathlib import Path

from workerproc import WorkerProcess, kill_orphans

from pq import PQ, TaskStatus, chain, chord, group
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


def test_a_group_inside_a_chain_gathers_once_when_its_worker_is_killed_mid_group(
    app: PQ, db_url: str, tmp_path: Path
) -> None:
    effects, gate = tmp_path / "effects", tmp_path / "gate"
    step = app.task(flowapp.step)
    gated = app.task(flowapp.gated_step, retries=2, backoff=0)
    joined = app.task(flowapp.joined)
    handle = chain(
        step.s(None, "a", str(effects)),
        group(gated.s("b", str(effects), str(gate)), step.s("c", str(effects))),
        joined.s(str(effects)),
    ).delay()

    def c_recorded() -> bool:
        rows = {t.workflow_step: t.status for t in handle.tasks()}
        return rows.get(2) is TaskStatus.COMPLETED

    first = WorkerProcess(db_url, tmp_path / "first.log", "--concurrency", "2", app=APP)
    try:
        # b runs (held by its gate) and c's end is recorded: the kill lands mid-group
        wait_until(lambda: "b-started" in _lines(effects) and c_recorded(), timeout=30)
        orphans = first.children()
        first.kill()  # SIGKILL: b's attempt is never recorded
        kill_orphans(orphans)
    finally:
        first.kill()
    gate.touch()
    second = WorkerProcess(db_url, tmp_path / "second.log", app=APP)
    try:
        assert handle.result(timeout=60) == ["a", "b", "a", "c"]
    finally:
        second.stop()
    done = sorted(line for line in _lines(effects) if not line.endswith("-started"))
    assert done == ["a", "b", "c", "joined"]  # each step's work happened once
    rows = handle.tasks()
    assert [t.workflow_step for t in rows] == [0, 1, 2, 3]  # one row per link
    assert rows[3].args[0] == [["a", "b"], ["a", "c"]]  # the callback got both, in order
    assert [a.outcome.value for a in rows[1].history] == ["lost", "success"]


def test_a_100_member_chord_on_4_workers_runs_its_callback_once_despite_a_killed_worker(
    app: PQ, db_url: str, tmp_path: Path
) -> None:
    effects = tmp_path / "effects"
    member = app.task(flowapp.slow_member, retries=2, backoff=0)
    collect = app.task(flowapp.collect)
    handle = chord(
        [member.s(i, str(effects), 0.05) for i in range(100)], collect.s(str(effects))
    ).delay()
    procs = [
        WorkerProcess(db_url, tmp_path / f"w{n}.log", "--concurrency", "2", app=APP)
        for n in range(4)
    ]
    try:
        wait_until(lambda: len(_lines(effects)) >= 30, timeout=60)
        victim = procs[0]
        orphans = victim.children()
        victim.kill()  # its running members are rescued after the lease and run again
        kill_orphans(orphans)
        assert handle.result(timeout=120) == sum(range(100))
    finally:
        for proc in procs:
            proc.stop()
    lines = _lines(effects)
    assert lines.count("callback") == 1
    assert {f"member {i}" for i in range(100)} <= set(lines)
    callback = handle.tasks()[-1]
    assert (callback.workflow_step, callback.args[0]) == (100, list(range(100)))
