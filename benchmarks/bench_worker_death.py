"""Two rows of the crash matrix, measured with a real `pq worker` (docs/reliability.md):

- parent death: `kill -9` of the worker parent while a task runs; how long until its child
  is gone (the child asked for SIGKILL at its parent's death, prctl(PR_SET_PDEATHSIG));
- a systemd stop with KillMode=control-group: SIGTERM to the worker and its child at once;
  how long until the worker exits, and what it recorded (interrupted and retried, not crash).

Each case runs ROUNDS times; the figures are the median and the worst.

    python benchmarks/bench_worker_death.py      # PQ_DATABASE_URL, else the embedded server
"""

from __future__ import annotations

import os
import signal
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg
from psycopg import sql

from benchmarks._worker_bench import scratch_app, worker_process
from pq import PQ
from pq.worker.tree import descendants

ROUNDS = 5

app = PQ()


@app.task(name="benchmarks.bench_worker_death:nap", retries=1)  # not __main__ as a script
def nap(seconds: float) -> None:
    time.sleep(seconds)


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return False
    return stat[stat.rfind(b")") + 2 :].split()[0] not in (b"Z", b"X")


def _wait(condition: object, timeout: float = 30.0) -> float:
    """Seconds until condition() is true (polled every millisecond)."""
    began = time.monotonic()
    while not condition():  # type: ignore[operator]
        if time.monotonic() - began > timeout:
            raise SystemExit(f"not within {timeout}s")
        time.sleep(0.001)
    return time.monotonic() - began


def _task_child(bench: PQ, worker_pid: int) -> int:
    _wait(lambda: bench.pending_count() == 0 and descendants(worker_pid), timeout=30)
    time.sleep(0.3)  # past the child's own setup (signals reset, death signal armed)
    found = descendants(worker_pid)
    if not found:
        raise SystemExit(f"the task's child ended early: {bench.list_failed()}")
    return found[0]


def parent_death(bench: PQ) -> float:
    bench.enqueue(nap, 60)
    with worker_process(bench, "benchmarks.bench_worker_death:app") as proc:
        child = _task_child(bench, proc.pid)
        proc.kill()
        took = _wait(lambda: not _alive(child))
        proc.wait()
    return took


def control_group_stop(
    bench: PQ, conn: psycopg.Connection[tuple[object, ...]]
) -> tuple[float, str]:
    task_id = bench.enqueue(nap, 60)
    with worker_process(bench, "benchmarks.bench_worker_death:app") as proc:
        child = _task_child(bench, proc.pid)
        began = time.monotonic()
        for pid in (proc.pid, child):  # what systemd's control-group kill does: everyone
            os.kill(pid, signal.SIGTERM)
        code = proc.wait(60)
        took = time.monotonic() - began
    query = sql.SQL("SELECT status, history->0->>'outcome' FROM {}.pq_tasks WHERE id = %s")
    row = conn.execute(query.format(sql.Identifier(bench.settings.schema)), (task_id,)).fetchone()
    conn.execute(sql.SQL("DELETE FROM {}.pq_tasks").format(sql.Identifier(bench.settings.schema)))
    return took, f"exit {code}, recorded {row}"


def main() -> None:
    schema = "pq_bench_worker_death"
    with scratch_app(schema) as bench, psycopg.connect(bench.database_url, autocommit=True) as conn:
        deaths = []
        for _ in range(ROUNDS):
            deaths.append(parent_death(bench))
            conn.execute(sql.SQL("DELETE FROM {}.pq_tasks").format(sql.Identifier(schema)))
        stops = [control_group_stop(bench, conn) for _ in range(ROUNDS)]
    print(f"kill -9 of the worker parent -> its child gone ({ROUNDS} rounds)")
    print(f"  median {statistics.median(deaths) * 1000:.1f} ms, worst {max(deaths) * 1000:.1f} ms")
    took = [t for t, _ in stops]
    print(f"SIGTERM to worker and child together -> worker exited ({ROUNDS} rounds)")
    print(f"  median {statistics.median(took) * 1000:.0f} ms, worst {max(took) * 1000:.0f} ms")
    for _, seen in stops:
        print(f"  {seen}")


if __name__ == "__main__":
    main()
