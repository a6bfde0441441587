"""`pq worker --log-format json`: every line a log shipper reads is one JSON object."""

from __future__ import annotations

import json
from typing import Any

from pq import PQ
from pqcli import run_pq
from taskmods import funcs


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_json_logs_carry_each_tasks_fields_and_its_own_output(db_url: str) -> None:
    producer = PQ(db_url)
    good = producer.enqueue(funcs.add, 2, 3)
    bad = producer.enqueue(funcs.fail, "bad input")
    loud = producer.enqueue(funcs.shout, "hello")
    producer.close()

    result = run_pq(
        "worker", "taskmods.e2e_app:app", "--burst", "--log-format", "json", db_url=db_url
    )

    assert result.returncode == 0, result.stderr
    logged = json_lines(result.stderr)  # fails here on any line that is not one JSON object
    ended = {entry["task_id"]: entry for entry in logged if "outcome" in entry}
    assert set(ended) == {good, bad, loud}
    first = ended[good]
    assert first["name"] == "taskmods.funcs:add" and first["attempt"] == 1
    assert first["queue"] == "default" and first["outcome"] == "success"
    assert first["level"] == "INFO" and first["duration"] > 0 and first["max_rss_kib"] > 0
    assert isinstance(first["worker_id"], int) and first["timestamp"].startswith("20")
    assert ended[bad]["outcome"] == "exception" and ended[bad]["level"] == "WARNING"
    assert "bad input" in ended[bad]["error"]
    assert all(entry.get("worker_id") == first["worker_id"] for entry in logged), logged

    (printed,) = json_lines(result.stdout)
    assert printed["task_id"] == loud and printed["message"] == "hello"


def test_text_logs_keep_the_task_id_and_duration_on_every_task_line(db_url: str) -> None:
    producer = PQ(db_url)
    task_id = producer.enqueue(funcs.add, 2, 3)
    producer.close()
    result = run_pq("worker", "taskmods.e2e_app:app", "--burst", db_url=db_url)
    (line,) = [x for x in result.stderr.splitlines() if "taskmods.funcs:add" in x]
    assert f"task {task_id} " in line and "success in " in line and line.endswith("s")
    (start,) = [x for x in result.stderr.splitlines() if " started (" in x]
    assert "priorities=all" in start and "(pid " in start and "database=" in start
    assert "@" not in start.partition("database=")[2]  # never the credentials
    picky = run_pq(
        "worker", "taskmods.e2e_app:app", "--burst", "-p", "high", "-p", "100", db_url=db_url
    )
    assert "priorities=critical,high " in picky.stderr, picky.stderr
    bad = run_pq("worker", "taskmods.e2e_app:app", "--log-format", "xml", db_url=db_url)
    assert bad.returncode == 2 and "use text or json" in bad.stderr
