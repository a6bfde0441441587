"""The dashboard's task pages: bounded walks that, page after page, find every match once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pq import PQ
from pq.ops.browse import browse_tasks
from taskmods import dashboard_app as tasks


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
