"""The dashboard's workflow page over HTTP, against a real database: a task links to its
workflow, the workflow lists its steps in step order with their counts, unknown or
malformed ids are 404 pages, and "Cancel workflow" stops what has not finished, behind the
same locks as every other action (CSRF, Origin, token, read-only)."""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any

import psycopg
import pytest
from claims import claim, register_worker
from fastapi import FastAPI
from webforms import csrf_of

from pq import PQ, TaskStatus, chain, group
from pq.store.db import PsycopgExecutor
from taskmods import dashboard_app as tasks

pytest.importorskip("starlette", reason="the dashboard extra is not installed")

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette's notice about httpx vs httpx2
    from starlette.testclient import TestClient

from pq.dashboard import dashboard

TOKEN = "http-test-token"


def steps_shown(html: str) -> list[tuple[int, int, str]]:
    """(step, task id, status) of each row of the steps table, in page order."""
    rows = re.findall(
        r'<tr data-task-id="(\d+)" data-step="(\d+)">.*?<span class="status (\w+)">',
        html,
        re.S,
    )
    return [(int(step), int(task_id), status) for task_id, step, status in rows]


def count_shown(html: str, status: str) -> int:
    found = re.search(
        rf'<li data-status="{status}"[^>]*><span class="status {status}">{status}</span> '
        r'<span class="n">(\d+)</span>',
        html,
    )
    assert found, f"no count of {status} on the page"
    return int(found.group(1))


def registered(app: PQ, fn: Any, **options: Any) -> Any:
    """The dashboard app's task, registered on the test's own app (its database)."""
    return app.task(fn.fn, name=fn.name, **options)


def test_a_task_links_to_its_workflow_whose_page_lists_its_steps_in_order(
    app: PQ, tmp_path: Path
) -> None:
    add = registered(app, tasks.add, queue="default")
    fails = registered(app, tasks.fails_until, queue="default")
    # Step 0 completes, step 1 fails; step 2 is never written (its link needs a completion).
    handle = chain(
        add.si(1, 2), fails.si(str(tmp_path / "never")), add.si(3, 4), add.si(5, 6)
    ).delay()
    app.run_worker(burst=True, queues=["default"])
    first, second = handle.tasks()
    assert (first.status, second.status) == (TaskStatus.COMPLETED, TaskStatus.FAILED)
    lone = app.enqueue(tasks.add, 7, 8)
    client = TestClient(dashboard(app), base_url="http://127.0.0.1")

    task_page = client.get(f"/tasks/{second.id}").text
    link = f'<a id="workflow" href="/workflows/{handle.id}">#{handle.id}</a>, step 1'
    assert link in task_page
    assert 'id="workflow"' not in client.get(f"/tasks/{lone}").text  # no workflow, no link

    page = client.get(f"/workflows/{handle.id}")
    assert page.status_code == 200
    assert f"<h1>Workflow #{handle.id}</h1>" in page.text
    assert steps_shown(page.text) == [(0, first.id, "completed"), (1, second.id, "failed")]
    assert f'href="/tasks/{first.id}">#{first.id}</a>' in page.text
    assert "taskmods.dashboard_app:fails_until" in page.text
    assert "1/1" in page.text  # attempts of max_attempts
    started = second.started_at
    assert started is not None and started.strftime("%Y-%m-%d %H:%M:%S") in page.text
    counts = {s: count_shown(page.text, s) for s in ("completed", "failed", "pending")}
    assert counts == {"completed": 1, "failed": 1, "pending": 0}
    # Nothing left to stop: no cancel button, and the live refresh shows the same.
    assert "Cancel workflow" not in page.text
    partial = client.get(f"/workflows/{handle.id}", headers={"X-PQ-Partial": "1"}).text
    assert "<h1>" not in partial and steps_shown(partial) == steps_shown(page.text)


def test_unknown_and_malformed_workflow_ids_are_404_pages(app: PQ) -> None:
    task_id = app.enqueue(tasks.add, 1, 1)  # a task with no workflow: its id names none
    client = TestClient(dashboard(app), base_url="http://127.0.0.1", raise_server_exceptions=False)
    for path in (
        f"/workflows/{task_id}",
        "/workflows/987654321",
        "/workflows/0",
        "/workflows/abc",
        "/workflows/-3",
        "/workflows/1e3",
        "/workflows/99999999999999999999999",
        "/workflows/%3Cscript%3Ealert(1)",
    ):
        for headers in ({}, {"X-PQ-Partial": "1"}):
            response = client.get(path, headers=headers)
            assert response.status_code == 404, path
            assert "workflow" in response.text and "<script>alert" not in response.text, path
            assert "Traceback" not in response.text and "incident" not in response.text, path
    unknown = client.get("/workflows/987654321").text
    assert "workflow 987654321 has no task" in unknown
    assert "there is no workflow &#39;abc&#39;" in client.get("/workflows/abc").text
    nested = client.get("/workflows/1/steps")  # no such page at all: the router's 404
    assert nested.status_code == 404 and "Traceback" not in nested.text


def test_cancel_workflow_stops_pending_and_running_steps_and_says_how_many(app: PQ) -> None:
    add = registered(app, tasks.add, queue="default")
    handle = group(add.si(1, 1), add.si(2, 2), add.si(3, 3)).delay()
    other = chain(add.si(4, 4), add.si(5, 5)).delay()  # another workflow: untouched
    with app.connect() as conn:
        conn.autocommit = True
        ex = PsycopgExecutor(conn)
        (running,) = claim(app, ex, register_worker(app, ex), 1)  # step 0 runs now
    assert running["workflow_id"] == handle.id
    client = TestClient(dashboard(app), base_url="http://127.0.0.1")
    page = client.get(f"/workflows/{handle.id}").text
    assert count_shown(page, "running") == 1 and count_shown(page, "pending") == 2
    assert f'action="/workflows/{handle.id}/cancel"' in page

    asked = client.post(f"/workflows/{handle.id}/cancel", data={"csrf_token": csrf_of(page)})
    assert asked.status_code == 200
    assert f"Cancel workflow #{handle.id}: every step not yet finished?" in asked.text
    assert not handle.cancelled()  # asking changed nothing

    done = client.post(
        f"/workflows/{handle.id}/cancel",
        data={"csrf_token": csrf_of(page), "confirmed": "yes"},
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"] == f"/workflows/{handle.id}"
    shown = client.get(done.headers["location"]).text
    assert (
        f"Workflow #{handle.id} is cancelled: 3 steps cancelled (1 running, stopped by its "
        "worker); no later step will start." in shown
    )
    rows = steps_shown(shown)
    assert [step for step, _, _ in rows] == [0, 1, 2]
    statuses = {task_id: status for _, task_id, status in rows}
    assert statuses.pop(running["id"]) == "running"  # its worker has yet to kill it
    assert list(statuses.values()) == ["cancelled", "cancelled"]
    assert "stopping" in shown and 'id="workflow-cancelled"' in shown
    assert count_shown(shown, "cancelled") == 2 and count_shown(shown, "running") == 1
    assert "Cancel workflow" not in shown  # nothing left that a cancel would stop
    assert handle.cancelled() and not other.cancelled()
    assert [t.status for t in other.tasks()] == [TaskStatus.PENDING]

    again = client.post(
        f"/workflows/{handle.id}/cancel",
        data={"csrf_token": csrf_of(page), "confirmed": "yes"},
    )
    assert f"Workflow #{handle.id} had already ended: nothing to cancel." in again.text


def test_a_cancel_held_up_by_a_locked_row_answers_with_what_to_do(
    app: PQ, monkeypatch: pytest.MonkeyPatch
) -> None:
    add = registered(app, tasks.add, queue="default")
    handle = group(add.si(1, 1), add.si(2, 2)).delay()
    locked = handle.tasks()[0].id
    monkeypatch.setattr("pq.web.actions.CANCEL_PATIENCE", 0.3)
    client = TestClient(dashboard(app), base_url="http://127.0.0.1")
    csrf = csrf_of(client.get(f"/workflows/{handle.id}").text)
    # a session left idle in a transaction holds one step's row
    with psycopg.connect(app.database_url) as holder:
        holder.execute("SELECT id FROM pq_tasks WHERE id = %s FOR UPDATE", (locked,))
        shown = client.post(
            f"/workflows/{handle.id}/cancel", data={"csrf_token": csrf, "confirmed": "yes"}
        ).text
    assert f"workflow {handle.id}: 1 task(s) stayed locked by another transaction" in shown
    assert "Cancel the workflow again once that transaction has ended." in shown
    statuses = {t.id: t.status for t in handle.tasks()}
    assert statuses.pop(locked) is TaskStatus.PENDING
    assert list(statuses.values()) == [TaskStatus.CANCELLED]


def test_cancel_workflow_is_refused_without_csrf_token_origin_or_when_read_only(
    app: PQ,
) -> None:
    add = registered(app, tasks.add, queue="default")
    handle = group(add.si(1, 1), add.si(2, 2)).delay()
    url = f"/workflows/{handle.id}/cancel"
    client = TestClient(dashboard(app), base_url="http://127.0.0.1")
    csrf = csrf_of(client.get(f"/workflows/{handle.id}").text)

    assert client.post(url, data={"confirmed": "yes"}).status_code == 403  # no CSRF value
    forged = client.post(url, data={"confirmed": "yes", "csrf_token": "forged-value-" * 3})
    assert forged.status_code == 403
    cross_site = client.post(
        url,
        data={"confirmed": "yes", "csrf_token": csrf},
        headers={"Origin": "http://evil.example"},
    )
    assert cross_site.status_code == 403

    gated = TestClient(dashboard(app, token=TOKEN), base_url="http://127.0.0.1")
    assert gated.post(url, data={"confirmed": "yes"}).status_code == 401
    away = gated.get(f"/workflows/{handle.id}", follow_redirects=False)
    assert away.status_code == 303 and away.headers["location"].startswith("/login")

    read_only = TestClient(dashboard(app, read_only=True), base_url="http://127.0.0.1")
    page = read_only.get(f"/workflows/{handle.id}").text
    assert count_shown(page, "pending") == 2
    assert "Cancel workflow" not in page and 'method="post"' not in page
    # Even with a CSRF value this browser holds: read-only refuses every action.
    read_only.cookies.set("pq_csrf", csrf)
    refused = read_only.post(url, data={"confirmed": "yes", "csrf_token": csrf})
    assert refused.status_code == 403 and "read-only" in refused.text

    assert not handle.cancelled()
    assert [t.status for t in handle.tasks()] == [TaskStatus.PENDING, TaskStatus.PENDING]
    # The same form with its token, from this site, does cancel: the refusals were the locks.
    client.post(url, data={"confirmed": "yes", "csrf_token": csrf})
    assert [t.status for t in handle.tasks()] == [TaskStatus.CANCELLED, TaskStatus.CANCELLED]


def test_cancelling_an_unknown_workflow_is_a_404_and_changes_nothing(app: PQ) -> None:
    task_id = app.enqueue(tasks.add, 1, 1)
    client = TestClient(dashboard(app), base_url="http://127.0.0.1")
    csrf = csrf_of(client.get(f"/tasks/{task_id}").text)
    for workflow in ("987654321", "abc"):
        answer = client.post(
            f"/workflows/{workflow}/cancel", data={"confirmed": "yes", "csrf_token": csrf}
        )
        assert answer.status_code == 404, workflow
    task = app.get_task(task_id)
    assert task is not None and task.status is TaskStatus.PENDING


def test_values_of_workflow_rows_are_shown_as_text(app: PQ) -> None:
    add = registered(app, tasks.add, queue="default")
    handle = group(add.si(1, 1), add.si(2, 2)).delay()
    first = handle.tasks()[0]
    with app.connect() as conn:  # a row written by hand: its name and queue are markup
        conn.execute(
            "UPDATE pq_tasks SET name = %s, queue = %s, flow = %s WHERE id = %s",
            ("<script>alert('name')</script>", "<b>q</b>", '"not an object"', first.id),
        )
        conn.commit()
    page = TestClient(dashboard(app), base_url="http://127.0.0.1").get(f"/workflows/{handle.id}")
    assert page.status_code == 200
    assert "&lt;script&gt;alert(&#39;name&#39;)&lt;/script&gt;" in page.text
    assert "<script>alert" not in page.text and "<b>q</b>" not in page.text
    assert count_shown(page.text, "pending") == 2


def test_workflow_links_forms_and_redirects_stay_under_the_mount_path(app: PQ) -> None:
    add = registered(app, tasks.add, queue="default")
    handle = group(add.si(1, 1), add.si(2, 2)).delay()
    first = handle.tasks()[0]
    site = FastAPI()
    site.mount("/pq", dashboard(app))
    client = TestClient(site, base_url="http://127.0.0.1")

    task_page = client.get(f"/pq/tasks/{first.id}").text
    assert f'href="/pq/workflows/{handle.id}"' in task_page
    page = client.get(f"/pq/workflows/{handle.id}").text
    assert f'href="/pq/tasks/{first.id}"' in page
    assert f'action="/pq/workflows/{handle.id}/cancel"' in page
    done = client.post(
        f"/pq/workflows/{handle.id}/cancel",
        data={"csrf_token": csrf_of(page), "confirmed": "yes"},
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"] == f"/pq/workflows/{handle.id}"
    shown = client.get(done.headers["location"]).text
    assert "2 steps cancelled; no later step will start" in shown


def test_a_large_workflow_lists_its_first_steps_and_counts_them_all(
    app: PQ, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("pq.web.pages.STEPS_SHOWN", 2)
    add = registered(app, tasks.add, queue="default")
    handle = group(*(add.si(n, n) for n in range(5))).delay()
    page = TestClient(dashboard(app), base_url="http://127.0.0.1").get(f"/workflows/{handle.id}")
    assert [step for step, _, _ in steps_shown(page.text)] == [0, 1]
    assert count_shown(page.text, "pending") == 5
    assert "3 more steps are not listed here" in page.text
