"""The dashboard over HTTP, without a browser: mounted inside another ASGI site, its locks
(token, CSRF, Origin, Host, read-only) and its error pages, against a real database."""

from __future__ import annotations

import re
import warnings
from datetime import timedelta

import pytest

pytest.importorskip("starlette", reason="the dashboard extra is not installed")

from fastapi import FastAPI

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette's notice about httpx vs httpx2
    from starlette.testclient import TestClient

from webforms import csrf_of

from pq import PQ
from pq.dashboard import dashboard
from taskmods import dashboard_app as tasks

TOKEN = "http-test-token"


def test_mounted_under_a_prefix_inside_another_site(app: PQ) -> None:
    task_id = app.enqueue(tasks.add, 1, 2)
    site = FastAPI()
    site.mount("/pq", dashboard(app))
    client = TestClient(site, base_url="http://127.0.0.1")

    page = client.get(f"/pq/tasks/{task_id}")
    assert page.status_code == 200
    assert 'href="/pq/static/pq.css"' in page.text
    assert f'action="/pq/tasks/{task_id}/cancel"' in page.text
    assert client.get("/pq/static/pq.js").status_code == 200

    done = client.post(
        f"/pq/tasks/{task_id}/cancel",
        data={"csrf_token": csrf_of(page.text), "confirmed": "yes"},
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"] == f"/pq/tasks/{task_id}"
    shown = client.get(done.headers["location"])
    assert f"Task #{task_id} is cancelled" in shown.text
    task = app.get_task(task_id)
    assert task is not None and task.status.value == "cancelled"


def test_an_action_without_confirmation_asks_first_and_changes_nothing(app: PQ) -> None:
    task_id = app.enqueue(tasks.add, 1, 2)
    client = TestClient(dashboard(app), base_url="http://127.0.0.1")
    csrf = csrf_of(client.get(f"/tasks/{task_id}").text)

    asked = client.post(f"/tasks/{task_id}/delete", data={"csrf_token": csrf})
    assert asked.status_code == 200 and f"Delete task #{task_id} for good?" in asked.text
    assert app.get_task(task_id) is not None
    client.post(f"/tasks/{task_id}/delete", data={"csrf_token": csrf, "confirmed": "yes"})
    assert app.get_task(task_id) is None


def test_token_is_required_for_pages_and_actions_and_bearer_works(app: PQ) -> None:
    task_id = app.enqueue(tasks.add, 1, 2)
    client = TestClient(dashboard(app, token=TOKEN), base_url="http://127.0.0.1")

    redirected = client.get("/", follow_redirects=False)
    assert redirected.status_code == 303 and redirected.headers["location"].startswith("/login")
    refused = client.post(f"/tasks/{task_id}/cancel", data={"confirmed": "yes"})
    assert refused.status_code == 401
    wrong = client.get("/", headers={"Authorization": "Bearer wrong-token"})
    assert "input" in wrong.text and 'name="token"' in wrong.text  # the login form again

    script = client.post(
        f"/tasks/{task_id}/cancel",
        data={"confirmed": "yes"},
        headers={"Authorization": f"Bearer {TOKEN}"},
        follow_redirects=False,
    )
    assert script.status_code == 303
    task = app.get_task(task_id)
    assert task is not None and task.status.value == "cancelled"
    assert TOKEN not in str(client.cookies)  # the session cookie holds an HMAC, not the token


def test_login_goes_back_only_to_pages_of_the_dashboard(app: PQ) -> None:
    client = TestClient(dashboard(app, token=TOKEN), base_url="http://127.0.0.1")
    form = client.get("/login?next=//evil.example/").text
    answer = client.post(
        "/login?next=//evil.example/",
        data={"csrf_token": csrf_of(form), "token": TOKEN},
        follow_redirects=False,
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/"


def test_dns_rebinding_host_is_refused(app: PQ) -> None:
    site = dashboard(app, allowed_hosts=["127.0.0.1", "localhost"])
    assert TestClient(site, base_url="http://127.0.0.1").get("/periodic").status_code == 200
    rebound = TestClient(site, base_url="http://attacker.example").get("/periodic")
    assert rebound.status_code == 400


def test_pages_send_a_script_policy_and_no_framing(app: PQ) -> None:
    response = TestClient(dashboard(app), base_url="http://127.0.0.1").get("/periodic")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["x-frame-options"] == "DENY"


def test_a_failure_inside_the_dashboard_shows_no_traceback(app: PQ) -> None:
    broken = PQ("postgresql://nobody:secret-pw@127.0.0.1:1/nowhere")
    client = TestClient(
        dashboard(broken), base_url="http://127.0.0.1", raise_server_exceptions=False
    )
    response = client.get("/periodic")
    assert response.status_code == 503
    assert "cannot be reached" in response.text
    assert "Traceback" not in response.text and "secret-pw" not in response.text


def test_search_finds_a_task_by_id_or_client_id(app: PQ) -> None:
    by_client = app.enqueue(tasks.add, 5, 6, client_id="order-<42>")
    other = app.enqueue(tasks.add, 7, 8)
    client = TestClient(dashboard(app), base_url="http://127.0.0.1")

    found = client.get("/tasks", params={"q": "order-<42>"}).text
    assert f'data-task-id="{by_client}"' in found and f'data-task-id="{other}"' not in found
    found = client.get("/tasks", params={"q": f"#{other}"}).text
    assert f'data-task-id="{other}"' in found and f'data-task-id="{by_client}"' not in found
    assert "No task matches" in client.get("/tasks", params={"q": "nothing-like-it"}).text
    assert "order-&lt;42&gt;" in client.get(f"/tasks/{by_client}").text  # escaped, not markup


def test_an_unexpected_error_is_a_short_page_and_its_details_go_to_the_log(
    app: PQ, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("inside detail: password=hunter2")

    monkeypatch.setattr(app, "list_workers", broken)
    client = TestClient(dashboard(app), base_url="http://127.0.0.1", raise_server_exceptions=False)
    for headers in ({}, {"X-PQ-Partial": "1"}):  # the page, and its live refresh
        response = client.get("/workers", headers=headers)
        assert response.status_code == 500
        assert "incident" in response.text
        for leak in ("hunter2", "RuntimeError", "Traceback", 'File "'):
            assert leak not in response.text
    assert "hunter2" in caplog.text and "Traceback" in caplog.text  # the log has the details


def test_schedule_actions_without_script_ask_on_a_page_then_act(app: PQ) -> None:
    app.schedule(tasks.add, 1, 2, run_every=timedelta(hours=1), key="nightly")
    client = TestClient(dashboard(app), base_url="http://127.0.0.1")
    listing = client.get("/periodic").text
    form = {"csrf_token": csrf_of(listing), "name": "taskmods.dashboard_app:add", "key": "nightly"}

    asked = client.post("/periodic/pause", data=form)
    assert "Pause schedule taskmods.dashboard_app:add (key nightly)?" in asked.text
    schedule = app.get_schedule(tasks.add, key="nightly")
    assert schedule is not None and schedule.active  # asking changed nothing

    paused = client.post("/periodic/pause", data={**form, "confirmed": "yes"})
    assert "Schedule taskmods.dashboard_app:add (key nightly) is paused." in paused.text
    assert "none while paused" in paused.text
    ran = client.post("/periodic/run", data={**form, "confirmed": "yes"})
    found = re.search(r"enqueued task #(\d+)", ran.text)
    assert found is not None
    task = app.get_task(int(found.group(1)))
    assert task is not None and task.args == [1, 2] and task.status.value == "pending"
    schedule = app.get_schedule(tasks.add, key="nightly")
    assert schedule is not None and not schedule.active


def test_log_out_ends_the_session(app: PQ) -> None:
    client = TestClient(dashboard(app, token=TOKEN), base_url="http://127.0.0.1")
    form = client.get("/login").text
    client.post("/login", data={"csrf_token": csrf_of(form), "token": TOKEN})
    overview = client.get("/")
    assert 'action="/logout"' in overview.text

    out = client.post(
        "/logout", data={"csrf_token": csrf_of(overview.text)}, follow_redirects=False
    )
    assert out.status_code == 303 and out.headers["location"] == "/login"
    again = client.get("/", follow_redirects=False)
    assert again.status_code == 303 and again.headers["location"].startswith("/login")
