"""What a task prints reaches the worker's output once, even though the child os._exit()s."""

from __future__ import annotations

from pq import PQ
from pqcli import run_pq
from taskmods import funcs


def test_print_in_a_task_is_neither_lost_nor_repeated(db_url: str) -> None:
    producer = PQ(db_url)
    ids = {word: producer.enqueue(funcs.shout, word) for word in ("alpha", "beta", "gamma")}
    producer.close()

    # PYTHONUNBUFFERED (set on some machines) would hide the problem: force buffering
    result = run_pq(
        "worker", "taskmods.e2e_app:app", "--burst", db_url=db_url, env={"PYTHONUNBUFFERED": ""}
    )

    assert result.returncode == 0, result.stderr
    # stdout is a pipe here, so it is block-buffered: without the flush nothing would arrive
    # each line carries the id of the task that printed it
    assert sorted(result.stdout.splitlines()) == sorted(
        f"[task {task_id}] {word}" for word, task_id in ids.items()
    )
