"""OpenTelemetry across the fork: a producer span at enqueue, a consumer span in the child
(set up after the fork), linked through the trace context stored in the row."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from pq import PQ
from pqcli import TESTS, pq_env, run_pq


def test_the_childs_consumer_span_links_to_the_enqueue_span(db_url: str, tmp_path: Path) -> None:
    produced = subprocess.run(
        [sys.executable, "-m", "taskmods.traced"],
        env=pq_env(db_url), cwd=TESTS, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    producer = json.loads(produced.stdout)
    ids = producer["ids"]
    sends = {s["attributes"]["pq.task.id"]: s for s in producer["spans"] if s["kind"] == "PRODUCER"}
    assert set(sends) == set(ids.values())
    send = sends[ids["good"]]
    assert send["name"] == "send taskmods.funcs:add"
    assert send["attributes"]["messaging.destination.name"] == "default"

    stored = PQ(db_url).get_task(ids["good"])
    assert stored is not None
    assert stored.options["trace"]["traceparent"].startswith(f"00-{send['trace_id']}-")

    result = run_pq(
        "worker", "taskmods.traced:app", "--burst", "--child-init", "taskmods.traced:child_init",
        db_url=db_url, env={"PQ_TEST_SPAN_DIR": str(tmp_path)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    spans: list[dict[str, Any]] = []
    for dump in tmp_path.glob("*.json"):
        spans += json.loads(dump.read_text())
    consumers = {s["attributes"]["pq.task.id"]: s for s in spans if s["kind"] == "CONSUMER"}
    assert set(consumers) == set(ids.values())

    good = consumers[ids["good"]]
    assert good["links"] == [{"trace_id": send["trace_id"], "span_id": send["span_id"]}]
    assert good["pid"] not in {s["pid"] for s in producer["spans"]}  # another process
    assert good["attributes"]["pq.task.name"] == "taskmods.funcs:add"
    assert good["attributes"]["pq.task.attempt"] == 1
    assert good["attributes"]["pq.task.outcome"] == "success"
    assert good["attributes"]["pq.task.peak_rss_bytes"] > 0
    assert good["status"] == "UNSET"

    bad = consumers[ids["bad"]]
    assert bad["links"][0]["span_id"] == sends[ids["bad"]]["span_id"]
    assert bad["attributes"]["pq.task.outcome"] == "exception" and bad["status"] == "ERROR"
    (event,) = bad["events"]
    assert event["name"] == "exception" and event["exception.type"] == "ValueError"
    assert "traced failure" in event["exception.message"]
