"""The overview's per-queue numbers (queue_stats.sql and the failed counts) are right for every
status, and the statement reads only the live rows and the last 15 minutes' ends: a table of
finished rows kept beside them is never scanned (the overview refreshes every few seconds in
every open tab, so a scan there is what a user with a big table would notice)."""

from __future__ import annotations

import random
import re
import warnings
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import psycopg
import pytest
from plans import plan_nodes

from pq import PQ
from pq.ops.series import FAILED_CAP, failed_by_queue

pytest.importorskip("starlette", reason="the dashboard extra is not installed")
with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette's notice about httpx vs httpx2
    from starlette.testclient import TestClient

from pq.dashboard import dashboard

BACKLOG = 20_000
LIVE_INDEXES = {"pq_tasks_pending_idx", "pq_tasks_waiting_idx", "pq_tasks_running_idx"}

OFFSETS = [-1500, -1000, -850, -700, -400, -250, -120, -40, -20, 120, 600, 3600]  # seconds
# (queue, priority, status, run_at / finished_at offset from now, how many)
ROWS = [
    ("mail", 50, "pending", "-2 hours", 1),  # the oldest due one: "2h 0m"
    ("mail", 50, "pending", "-1 minute", 1),
    ("mail", 90, "pending", "-10 seconds", 1),  # another priority of the same queue
    ("mail", 50, "pending", "+1 day", 2),  # scheduled: pending, not due
    ("mail", 50, "waiting", "-1 minute", 1),  # held by a rate limit: pending and due
    ("mail", 50, "waiting", "+1 hour", 1),
    ("mail", 50, "running", "-5 minutes", 2),
    ("mail", 90, "running", "-5 minutes", 1),
    ("mail", 50, "completed", "-3 minutes", 5),
    ("mail", 50, "completed", "-20 minutes", 7),  # ended before the 15-minute window
    ("mail", 50, "failed", "-2 minutes", 1),
    ("mail", 50, "failed", "-2 days", 2),  # kept: "Failed", not "Failed 15 min"
    ("mail", 50, "cancelled", "-1 minute", 4),  # counted nowhere on the overview
    ("reports", 50, "completed", "-1 minute", 3),  # a queue with only recent ends
    ("later", 50, "pending", "+2 hours", 1),  # a queue with nothing due
]


def _insert(conn: psycopg.Connection[Any], queue: str, prio: int, status: str, at: str) -> None:
    """One row as the worker would leave it in that status (start and end times included)."""
    finished = status in ("completed", "failed", "cancelled")
    conn.execute(
        "INSERT INTO pq_tasks (name, queue, priority, status, run_at, started_at, finished_at,"
        " attempts, worker_id) VALUES ('x:job', %(q)s, %(p)s, %(s)s, now() + %(at)s::interval,"
        " CASE WHEN %(s)s IN ('running', 'completed', 'failed')"
        "      THEN now() + %(at)s::interval - interval '2 seconds' END,"
        " CASE WHEN %(f)s THEN now() + %(at)s::interval END,"
        " CASE WHEN %(s)s IN ('running', 'completed', 'failed') THEN 1 ELSE 0 END,"
        " CASE WHEN %(s)s = 'running' THEN 1 END)",
        {"q": queue, "p": prio, "s": status, "at": at, "f": finished},
    )


def _cells(page: str, queue: str) -> list[str]:
    row = re.search(rf'<tr data-queue="{queue}">(.*?)</tr>', page, re.S)
    assert row is not None, f"no row for queue {queue}"
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row.group(1), re.S)
    return [re.sub(r"<[^>]+>", "", c).strip() for c in cells]


def test_the_overview_shows_each_queues_numbers_for_every_status(app: PQ) -> None:
    with psycopg.connect(app.database_url) as conn:
        for queue, priority, status, at, n in ROWS:
            for _ in range(n):
                _insert(conn, queue, priority, status, at)
    app.pause_queue("idle")  # paused while empty: listed so it can be resumed

    page = TestClient(dashboard(app), base_url="http://127.0.0.1").get("/").text

    header = re.findall(r"<th(?: [^>]*)?>(.*?)</th>", page)[:9]
    assert header == [
        "Queue",
        "Pending",
        "Due now",
        "Running",
        "Failed",
        "Done 15 min",
        "Failed 15 min",
        "Oldest due",
        "State",
    ]
    # Pending 3 due + 2 scheduled pending, 1 due + 1 later waiting; running over both
    # priorities; 2 failed two days ago and 1 just now kept; 5 done and 1 failed in 15 min.
    assert _cells(page, "mail")[:9] == [
        "mail",
        "7",
        "4",
        "3",
        "3",
        "5",
        "1 (16.7%)",
        "2h 0m",
        "active",
    ]
    assert _cells(page, "reports")[:9] == ["reports", "0", "0", "0", "0", "3", "0", "-", "active"]
    assert _cells(page, "later")[:9] == ["later", "1", "0", "0", "0", "0", "0", "-", "active"]
    assert _cells(page, "idle")[:9] == ["idle", "0", "0", "0", "0", "0", "0", "-", "paused"]


Counts = Counter[tuple[str, int, str]]
FIELDS = ["due", "scheduled", "running"] + [
    f"{s}_{m}m" for s in ("completed", "failed") for m in (1, 5, 15)
]


def _count_by_hand(rows: list[tuple[Any, ...]], now: datetime) -> tuple[Counts, dict[Any, Any]]:
    """What queue_stats should say of these rows: counts per (queue, priority, field), and
    the run_at of each pair's oldest due row."""
    expected: Counts = Counter()
    oldest: dict[tuple[str, int], datetime] = {}
    for queue, priority, status, run_at, finished_at in rows:
        key = (queue, priority)
        if status in ("pending", "waiting"):
            expected[(*key, "due" if run_at <= now else "scheduled")] += 1
            if run_at <= now:
                oldest[key] = min(oldest.get(key, run_at), run_at)
        elif status == "running":
            expected[(*key, "running")] += 1
        elif status in ("completed", "failed"):
            for minutes in (1, 5, 15):
                if finished_at >= now - timedelta(minutes=minutes):
                    expected[(*key, f"{status}_{minutes}m")] += 1
    return expected, oldest


def test_queue_stats_agree_with_a_plain_count_of_every_row(app: PQ) -> None:
    """A random mix of statuses, queues, priorities and times, counted row by row here."""
    rng = random.Random(7)
    statuses = ["pending", "waiting", "running", "completed", "failed", "cancelled"]
    with psycopg.connect(app.database_url) as conn:
        for _ in range(400):
            # Each time well clear of the 1/5/15-minute and due-now edges: the stats are read
            # a moment after the reference `now` below.
            at = f"{rng.choice(OFFSETS) + rng.randint(-5, 5)} seconds"
            _insert(conn, rng.choice("abc"), rng.choice([10, 50, 90]), rng.choice(statuses), at)
        conn.commit()
        row = conn.execute("SELECT now()").fetchone()
        assert row is not None
        now = row[0]
        rows = conn.execute(
            "SELECT queue, priority, status, run_at, finished_at FROM pq_tasks"
        ).fetchall()
    expected, oldest = _count_by_hand(rows, now)

    stats = app.queue_stats()
    seen: Counts = Counter()
    for s in stats:
        seen.update({(s.queue, s.priority, f): getattr(s, f) for f in FIELDS if getattr(s, f)})
        if (s.queue, s.priority) in oldest:
            # Read a moment later than `now` above, so a little older, never younger.
            age = (now - oldest[(s.queue, s.priority)]).total_seconds()
            assert s.oldest_due_age is not None and age <= s.oldest_due_age < age + 60
        else:
            assert s.oldest_due_age is None
    assert seen == expected
    assert len({(s.queue, s.priority) for s in stats}) == len(stats)  # one entry per pair


def _fill_backlog(url: str) -> None:
    """Finished rows kept for days (the table's bulk), a few live ones and recent ends."""
    with psycopg.connect(url) as conn:
        for status in ("completed", "failed", "cancelled"):
            conn.execute(
                "INSERT INTO pq_tasks (name, queue, status, started_at, finished_at, attempts)"
                " SELECT 'x:old', (ARRAY['a', 'b'])[1 + g %% 2], %(s)s,"
                " now() - interval '3 days', now() - interval '3 days' + g * interval '1 second',"
                " 1 FROM generate_series(1, %(n)s) AS g",
                {"s": status, "n": BACKLOG},
            )
        for queue, priority, status, at, n in ROWS:
            for _ in range(n):
                _insert(conn, queue, priority, status, at)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE pq_tasks")


def test_queue_stats_beside_a_backlog_of_finished_rows_reads_only_live_and_recent_rows(
    app: PQ,
) -> None:
    _fill_backlog(app.database_url)
    live = sum(n for _, _, s, _, n in ROWS if s in ("pending", "waiting", "running"))
    recent = 5 + 1 + 3  # the completed and failed rows of ROWS that ended 1 to 3 minutes ago
    with psycopg.connect(app.database_url) as conn:
        sql = app.queries.sql("queue_stats")
        plan = conn.execute(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {sql}").fetchone()
    assert plan is not None
    nodes = plan_nodes(plan[0][0]["Plan"])
    scans = [n for n in nodes if n.get("Relation Name") == "pq_tasks"]
    assert "Seq Scan" not in {n["Node Type"] for n in scans}
    # Each live status through its own partial index, the ends through the finished index
    # (an index scan or a bitmap built from the index; no other index, no other way in).
    read = {
        n["Index Name"]: n["Actual Rows"] * n["Actual Loops"] for n in nodes if "Index Name" in n
    }
    assert set(read) == LIVE_INDEXES | {"pq_tasks_finished_idx"}
    assert all(
        n["Node Type"] in {"Index Scan", "Index Only Scan", "Bitmap Heap Scan"} for n in scans
    )
    assert sum(read[i] for i in LIVE_INDEXES) == live
    # The 15-minute window's ends only: the 60,000 rows that ended three days ago, and the
    # ones 20 minutes ago, are never reached.
    assert read["pq_tasks_finished_idx"] == recent
    assert max(n.get("Rows Removed by Filter", 0) for n in scans) == 0
    assert sum(n["Shared Hit Blocks"] + n["Shared Read Blocks"] for n in scans) <= 40


def test_failed_counts_read_at_most_cap_entries_of_a_queue_on_a_churned_table(app: PQ) -> None:
    """The overview's "Failed" column beside 20,000 failed rows of each of two queues (among
    160,000 completed ones), on a table whose pages were just updated (not all-visible, as on
    a busy queue): each count walks at most cap + 1 entries of the failed index, never all of
    a queue's entries (a bitmap scan collects them all first; a seq scan reads the table)."""
    cap = FAILED_CAP
    with psycopg.connect(app.database_url) as conn:
        conn.execute(
            "INSERT INTO pq_tasks (name, queue, status, finished_at)"
            " SELECT 'x:bad', (ARRAY['a', 'b'])[1 + g %% 2],"
            " CASE WHEN g %% 5 = 0 THEN 'failed' ELSE 'completed' END, now()"
            " FROM generate_series(1, %(n)s) AS g",
            {"n": 10 * BACKLOG},  # one in five failed: 20,000 per queue
        )
    with psycopg.connect(app.database_url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE pq_tasks")
        # Every page touched since the VACUUM: the visibility map no longer vouches for them.
        conn.execute("UPDATE pq_tasks SET attempts = attempts + 1 WHERE id % 7 = 0")
        conn.execute("ANALYZE pq_tasks")
        sql = app.queries.sql("queue_failed_counts")
        plan = conn.execute(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {sql}", {"cap": cap})
        row = plan.fetchone()
    assert row is not None
    nodes = plan_nodes(row[0][0]["Plan"])
    scans = [n for n in nodes if n.get("Relation Name") == "pq_tasks"]
    assert {n["Node Type"] for n in scans} == {"Index Only Scan"}
    assert {n["Index Name"] for n in scans} == {"pq_tasks_failed_queue_idx"}
    assert max(n["Actual Rows"] for n in scans) == cap + 1  # per loop: one queue's count
    assert failed_by_queue(app, cap=cap) == {"a": cap + 1, "b": cap + 1}
    assert failed_by_queue(app, cap=BACKLOG) == {"a": BACKLOG, "b": BACKLOG}
