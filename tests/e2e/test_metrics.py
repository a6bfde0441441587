"""Prometheus metrics as Prometheus sees them: the real endpoints scraped over HTTP and read
with prometheus_client's own parser."""

from __future__ import annotations

import socket
import urllib.request
from typing import Any

import psycopg
from prometheus_client.parser import text_string_to_metric_families

from pq import PQ, TaskStatus
from taskmods import funcs, opsapp
from waiting import wait_until

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def scrape(port: int) -> Samples:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def sample(samples: Samples, metric: str, **labels: str) -> float:
    return samples[(metric, frozenset(labels.items()))]


def answers(port: int) -> bool:
    try:
        scrape(port)
    except OSError:
        return False
    return True


def test_a_worker_exposes_its_own_counters_and_histograms(db_url: str, start_pq: Any) -> None:
    producer = PQ(db_url)
    good = [producer.enqueue(funcs.add, i, 1) for i in range(3)]
    bad = producer.enqueue(funcs.fail, "no")
    port = free_port()
    start_pq(
        "worker", "taskmods.e2e_app:app", "--metrics-port", str(port), "--metrics-host",
        "127.0.0.1", db_url=db_url,
    )  # fmt: skip

    def all_ended() -> bool:
        return all(
            producer.get_task(t).status in (TaskStatus.COMPLETED, TaskStatus.FAILED)  # type: ignore[union-attr]
            for t in [*good, bad]
        )

    wait_until(all_ended, timeout=60)
    wait_until(lambda: answers(port), timeout=30)
    add = {"name": "taskmods.funcs:add", "queue": "default"}
    samples = scrape(port)
    assert sample(samples, "pq_tasks_finished_total", **add, outcome="success") == 3
    fail = {"name": "taskmods.funcs:fail", "queue": "default"}
    assert sample(samples, "pq_tasks_finished_total", **fail, outcome="exception") == 1
    assert sample(samples, "pq_task_duration_seconds_count", **add) == 3
    assert sample(samples, "pq_task_duration_seconds_sum", **add) > 0
    assert sample(samples, "pq_task_peak_rss_bytes_count", **add) == 3
    assert sample(samples, "pq_worker_db_seconds_count", statement="claim") >= 1
    assert sample(samples, "pq_worker_children_running") == 0
    assert sample(samples, "pq_worker_heartbeat_age_seconds") >= 0
    producer.close()


def test_pq_metrics_exposes_queue_gauges_from_the_database(db_url: str, start_pq: Any) -> None:
    opsapp.app._url = db_url
    for i in range(3):
        opsapp.send.delay(f"{i}@x")
    opsapp.ok.apply_async((1,), countdown=3600)
    with psycopg.connect(db_url, autocommit=True) as conn:  # one worker that stopped beating
        conn.execute(
            "INSERT INTO pq_workers (host, pid, version, queues, concurrency, lease_seconds,"
            " last_heartbeat_at) VALUES ('gone', 1, 'x', '{default}', 1, 30,"
            " now() - interval '1 hour')"
        )
    port = free_port()
    start_pq("metrics", "taskmods.opsapp:app", "--port", str(port), "--host", "127.0.0.1",
             db_url=db_url)  # fmt: skip
    wait_until(lambda: answers(port), timeout=30)

    samples = scrape(port)
    emails = {"queue": "emails", "priority": "50"}
    assert sample(samples, "pq_database_up") == 1
    assert sample(samples, "pq_queue_tasks", **emails, state="due") == 3
    assert sample(samples, "pq_queue_tasks", **emails, state="running") == 0
    assert sample(samples, "pq_queue_oldest_due_age_seconds", **emails) > 0
    default = {"queue": "default", "priority": "50"}
    assert sample(samples, "pq_queue_tasks", **default, state="scheduled") == 1
    assert sample(samples, "pq_queue_paused", queue="emails") == 0
    assert sample(samples, "pq_workers", state="lost") == 1
    assert sample(samples, "pq_workers", state="alive") == 0
    opsapp.app.close()
