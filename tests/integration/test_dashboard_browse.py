"""The dashboard's reads: task pages (bounded walks that, page after page, find every match
once) and the overview's failed tasks per queue."""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from pq import PQ
from pq.ops.browse import browse_tasks
from pq.ops.series import failed_by_queue
from taskmods import dashboard_app as tasks
from taskmods import opsapp

pytest.importorskip("starlette", reason="the dashboard extra is not installed")
with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette's notice about httpx vs httpx2
    from starlette.testclient import TestClient

from pq.dashboard import dashboard


def all_pages(app: PQ, **filters: object) -> tuple[list[int], int]:
    """Every id the pages show, in order, and how many pages it took."""
    seen: list[int] = []
    before, pages = None, 0
    while True:
        page = browse_tasks(app, before_id=before, limit=3, window=5, **filters)  # type: ignore[arg-type]
        pages += 1
        seen += [t.id for t in page.tasks]
        if page.next_before is None:
            return seen, pages
        before = page.next_before


def test_pages_walk_every_match_once_newest_first(app: PQ) -> None:
    ids = [
        app.enqueue(tasks.add, i, 0, queue="rare" if i % 4 == 0 else "common") for i in range(23)
    ]
    rare = [i for n, i in enumerate(ids) if n % 4 == 0]

    shown, pages = all_pages(app, queue=["rare"])
    assert shown == sorted(rare, reverse=True)
    assert pages >= 23 // 5  # each page walked at most 5 rows, so it took several

    everything, _ = all_pages(app)
    assert everything == sorted(ids, reverse=True)
    nothing, _ = all_pages(app, name="no_such_task")
    assert nothing == []


def test_status_name_and_since_filters(app: PQ) -> None:
    first = app.enqueue(tasks.add, 1, 1)
    second = app.enqueue(tasks.held, 2)
    assert app.cancel(second)

    assert [t.id for t in browse_tasks(app, status=["cancelled"]).tasks] == [second]
    assert [t.id for t in browse_tasks(app, name="add").tasks] == [first]
    assert [t.id for t in browse_tasks(app, name="taskmods.dashboard_app:held").tasks] == [second]
    later = datetime.now(UTC) + timedelta(minutes=1)
    page = browse_tasks(app, since=later)
    assert page.tasks == [] and page.next_before is None


@pytest.fixture
def ops(db_url: str) -> Iterator[PQ]:
    opsapp.app.close()
    opsapp.app._url = db_url  # the shared app module, pointed at this test's database
    yield opsapp.app
    opsapp.app.close()


def test_overview_counts_each_queues_failed_tasks_of_any_age(ops: PQ, db_url: str) -> None:
    for i in range(3):
        ops.enqueue(opsapp.boom, f"n{i}")
    old = ops.enqueue(opsapp.boom, "old", queue="imports")
    ops.enqueue(opsapp.ok, 1)
    ops.run_worker(burst=True, queues=["default", "imports"])
    with psycopg.connect(db_url, autocommit=True) as conn:  # it failed two days ago
        conn.execute(
            "UPDATE pq_tasks SET finished_at = now() - interval '2 days' WHERE id = %s", [old]
        )

    assert failed_by_queue(ops) == {"default": 3, "imports": 1}
    assert failed_by_queue(ops, cap=1) == {"default": 2, "imports": 1}  # cap + 1: "1+"

    page = TestClient(dashboard(ops), base_url="http://127.0.0.1").get("/").text
    row = re.search(r'<tr data-queue="imports">.*?</tr>', page, re.S)
    assert row is not None, "a queue with only an old failure is still listed"
    assert 'class="failed"><a class="bad" href="/tasks?status=failed&queue=imports">1</a>' in (
        row.group(0)
    )
