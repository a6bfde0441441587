"""The dashboard driven in headless Chromium against a real database, a real `pq dashboard`
and a real `pq worker`: what an operator sees and does, and what an attacker cannot."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from dashboard_harness import TOKEN, Dashboard, Process, screenshot
from playwright.sync_api import Browser, Dialog, Page, Request, Response, expect

from pq import PQ, group
from taskmods import dashboard_app as tasks
from waiting import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def has_status(app: PQ, task_id: int, status: str) -> Callable[[], bool]:
    def check() -> bool:
        task = app.get_task(task_id)
        return task is not None and task.status.value == status

    return check


def test_overview_shows_queues_throughput_and_workers(
    page: Page, dashboard: Dashboard, worker: Process, pq_app: PQ
) -> None:
    done = [pq_app.enqueue(tasks.add, i, 1) for i in range(3)]
    for task_id in done:
        wait_until(has_status(pq_app, task_id, "completed"), timeout=60)

    page.goto(dashboard.url + "/")
    row = page.locator("tr[data-queue=web]")
    expect(row).to_be_visible()
    expect(page.locator(".cards")).to_contain_text("1 workers alive")
    # The charts are inline SVG drawn by the server: a bar for the tasks that just ended.
    expect(page.locator("svg.chart rect.ok").first).to_be_attached()
    # Live numbers: a task enqueued now shows up without reloading the page.
    pq_app.pause_queue("web-later")
    expect(page.locator("tr[data-queue=web-later]")).to_be_visible(timeout=10_000)
    pq_app.resume_queue("web-later")
    screenshot(page, "overview")


def test_failed_task_is_found_opened_retried_and_completes(
    page: Page, dashboard: Dashboard, worker: Process, pq_app: PQ, tmp_path: Path
) -> None:
    flag = tmp_path / "fixed"
    task_id = pq_app.enqueue(tasks.fails_until, str(flag))
    wait_until(has_status(pq_app, task_id, "failed"), timeout=60)

    page.goto(dashboard.url + "/tasks")
    page.check("input[name=status][value=failed]")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**/tasks?status=failed*")
    link = page.locator(f"tr[data-task-id='{task_id}'] a")
    expect(link).to_be_visible()
    screenshot(page, "tasks-failed")
    link.click()

    expect(page.locator("#traceback")).to_contain_text("ValueError: flag file")
    expect(page.locator(".timeline li.exception")).to_contain_text("attempt 1")
    screenshot(page, "task-failed")
    flag.write_text("the operator fixed it")
    page.click("button:text-is('Retry')")
    expect(page.locator(".flash")).to_contain_text(f"Task #{task_id} is pending again")
    # The live refresh shows the end without a reload.
    expect(page.locator("#live .actions .status")).to_have_text("completed", timeout=60_000)
    expect(page.locator("#result")).to_contain_text('"recovered"')
    expect(page.locator(".timeline li")).to_have_count(2)
    screenshot(page, "task")


def test_paused_queue_is_not_claimed_until_resumed(
    page: Page, dashboard: Dashboard, worker: Process, pq_app: PQ
) -> None:
    first = pq_app.enqueue(tasks.held, 1)  # makes the queue show on the overview
    wait_until(has_status(pq_app, first, "completed"), timeout=60)

    page.goto(dashboard.url + "/")
    page.locator("tr[data-queue=held] button:has-text('Pause')").click()
    expect(page.locator(".flash")).to_contain_text("Queue held is paused")
    expect(page.locator("tr[data-queue=held]")).to_contain_text("paused")
    wait_until(lambda: "held paused" in worker.output(), timeout=30)

    waiting = pq_app.enqueue(tasks.held, 2)
    later = pq_app.enqueue(tasks.add, 2, 2)  # same worker, other queue: it keeps claiming there
    wait_until(has_status(pq_app, later, "completed"), timeout=60)
    task = pq_app.get_task(waiting)
    assert task is not None and task.status.value == "pending" and task.attempts == 0

    page.locator("tr[data-queue=held] button:has-text('Resume')").click()
    expect(page.locator(".flash")).to_contain_text("Queue held is resumed")
    wait_until(has_status(pq_app, waiting, "completed"), timeout=60)


def test_markup_in_a_result_is_shown_as_text(
    page: Page, dashboard: Dashboard, worker: Process, pq_app: PQ
) -> None:
    task_id = pq_app.enqueue(tasks.returns_markup)
    wait_until(has_status(pq_app, task_id, "completed"), timeout=60)

    page.goto(f"{dashboard.url}/tasks/{task_id}")
    expect(page.locator("#result")).to_contain_text("<script>window.pqPwned = 1</script>")
    assert page.evaluate("window.pqPwned") is None
    assert page.locator("#pq-bold").count() == 0
    # Still inert after the live refresh has swapped the fragment in.
    expect(page.locator("#refreshed")).to_contain_text("updated")
    assert page.evaluate("window.pqPwned") is None


def test_actions_without_the_token_or_from_another_site_are_refused(
    browser: Browser, page: Page, dashboard: Dashboard, pq_app: PQ
) -> None:
    task_id = pq_app.enqueue(tasks.add, 1, 2, queue="nobody-runs-this")

    stranger = browser.new_context()
    try:
        visit = stranger.new_page()
        visit.goto(f"{dashboard.url}/tasks/{task_id}")
        expect(visit.locator("input[name=token]")).to_be_visible()  # sent to the login form
        visit.fill("input[name=token]", "not-the-token")
        visit.click("button[type=submit]")
        expect(visit.locator(".flash.bad")).to_contain_text("not this dashboard's")
        refused = stranger.request.post(
            f"{dashboard.url}/tasks/{task_id}/cancel", form={"confirmed": "yes"}
        )
        assert refused.status == 401
    finally:
        stranger.close()

    # Logged in, but the form's CSRF value is missing or forged, or it comes from elsewhere.
    forged = page.request.post(
        f"{dashboard.url}/tasks/{task_id}/cancel",
        form={"confirmed": "yes", "csrf_token": "forged"},
    )
    assert forged.status == 403
    cross_site = page.request.post(
        f"{dashboard.url}/tasks/{task_id}/cancel",
        form={"confirmed": "yes"},
        headers={"Origin": "http://evil.example"},
    )
    assert cross_site.status == 403
    task = pq_app.get_task(task_id)
    assert task is not None and task.status.value == "pending"

    # The same action through the page works, so the refusals above were not a broken route.
    page.goto(f"{dashboard.url}/tasks/{task_id}")
    page.click("button:has-text('Cancel')")
    expect(page.locator(".flash")).to_contain_text(f"Task #{task_id} is cancelled")
    assert has_status(pq_app, task_id, "cancelled")()


def test_a_workflow_opened_from_a_task_page_is_cancelled_with_its_running_step(
    page: Page, dashboard: Dashboard, worker: Process, pq_app: PQ, tmp_path: Path
) -> None:
    # The dashboard app's tasks, written by the test's app (its database) under their names.
    add = pq_app.task(tasks.add.fn, name=tasks.add.name, queue="web")
    waits = pq_app.task(tasks.waits.fn, name=tasks.waits.name, queue="web")
    started = tmp_path / "started"
    handle = group(
        add.si(1, 2), waits.si(str(started)), add.si(3, 4).set(queue="nobody-runs-this")
    ).delay()
    done, running, pending = handle.tasks()
    wait_until(has_status(pq_app, done.id, "completed"), timeout=60)
    wait_until(started.exists, timeout=60)  # the real worker runs step 1 now

    page.goto(f"{dashboard.url}/tasks/{done.id}")
    expect(page.locator("#workflow")).to_have_text(f"#{handle.id}")
    page.click("#workflow")
    page.wait_for_url(f"{dashboard.url}/workflows/{handle.id}")
    expect(page.locator("h1")).to_have_text(f"Workflow #{handle.id}")
    rows = page.locator("table.steps tbody tr")
    expect(rows).to_have_count(3)
    for n, (task_id, status) in enumerate(
        ((done.id, "completed"), (running.id, "running"), (pending.id, "pending"))
    ):
        expect(rows.nth(n)).to_have_attribute("data-task-id", str(task_id))
        expect(rows.nth(n).locator(".status")).to_have_text(status)
        expect(rows.nth(n)).to_contain_text("taskmods.dashboard_app:")
    expect(page.locator("#counts li[data-status=running] .n")).to_have_text("1")
    screenshot(page, "workflow")

    page.click("button:has-text('Cancel workflow')")
    expect(page.locator(".flash")).to_contain_text(
        f"Workflow #{handle.id} is cancelled: 2 steps cancelled (1 running, stopped by its "
        "worker); no later step will start."
    )
    # The worker kills the running step; the live refresh shows it without a reload.
    expect(rows.nth(1).locator(".status")).to_have_text("cancelled", timeout=60_000)
    expect(rows.nth(0).locator(".status")).to_have_text("completed")
    expect(rows.nth(2).locator(".status")).to_have_text("cancelled")
    expect(page.locator("#counts li[data-status=cancelled] .n")).to_have_text("2")
    expect(page.locator("#counts li[data-status=running] .n")).to_have_text("0")
    expect(page.locator("#workflow-cancelled")).to_be_visible()
    expect(page.locator("button:has-text('Cancel workflow')")).to_have_count(0)
    screenshot(page, "workflow-cancelled")
    assert [t.status.value for t in handle.tasks()] == ["completed", "cancelled", "cancelled"]
    killed = pq_app.get_task(running.id)
    assert killed is not None and killed.outcome is not None
    assert killed.outcome.value == "cancelled"  # stopped, not failed and not retried

    # Back on a step's page, the same workflow link leads here again.
    page.click(f"table.steps tr[data-task-id='{pending.id}'] a")
    page.wait_for_url(f"{dashboard.url}/tasks/{pending.id}")
    expect(page.locator("#live .actions .status")).to_have_text("cancelled")
    expect(page.locator("#workflow")).to_have_attribute("href", f"/workflows/{handle.id}")


def test_bad_input_gets_a_short_error_page_never_a_traceback(
    page: Page, dashboard: Dashboard
) -> None:
    for path, status in (
        ("/tasks?status=bogus", 400),
        ("/tasks/12345678", 404),
        ("/tasks?before=-1", 400),
        ("/tasks/not-a-number", 400),
        ("/workflows/12345678", 404),
        ("/workflows/not-a-number", 404),
    ):
        response = page.goto(dashboard.url + path)
        assert response is not None and response.status == status, path
        body = page.content()
        assert "Traceback" not in body and 'File "' not in body, path


def test_workers_and_schedules_pages_and_schedule_actions(
    page: Page, dashboard: Dashboard, worker: Process, pq_app: PQ
) -> None:
    page.goto(dashboard.url + "/workers")
    row = page.locator("table.workers tbody tr").first
    expect(row).to_contain_text("alive")
    expect(row).to_contain_text("web, held")
    screenshot(page, "workers")

    page.goto(dashboard.url + "/periodic")
    schedule = page.locator("table.schedules tbody tr", has_text="six_hourly_report")
    expect(schedule).to_contain_text("active")
    expect(schedule).to_contain_text("every 6h")
    expect(schedule).to_contain_text("(in 5h")  # next run, six hours after it was written
    expect(schedule).to_contain_text("at most 1 at once")
    screenshot(page, "periodic")
    schedule.locator("button:has-text('Pause')").click()
    expect(page.locator(".flash")).to_contain_text("is paused")
    expect(schedule).to_contain_text("none while paused")  # no next run is promised
    schedule.locator("button:has-text('Run now')").click()
    expect(page.locator(".flash")).to_contain_text("enqueued task #")
    found = re.search(r"task #(\d+)", page.locator(".flash").inner_text())
    assert found is not None
    ran = pq_app.get_task(int(found.group(1)))
    assert ran is not None and ran.name.endswith("six_hourly_report") and ran.periodic_id
    expect(page.locator("h1")).to_contain_text(f"Task #{ran.id}")  # sent to the task it made
    page.goto(dashboard.url + "/periodic")
    expect(schedule).to_contain_text("none while paused")  # running it once did not resume it
    schedule.locator("button:has-text('Resume')").click()
    expect(page.locator(".flash")).to_contain_text("is resumed; next run")
    expect(schedule).to_contain_text("(in 5h")


def test_read_only_dashboard_shows_no_action_and_refuses_posts(
    browser: Browser,
    read_only_dashboard: Dashboard,
    worker: Process,
    pq_app: PQ,
    tmp_path: Path,
) -> None:
    read_only = read_only_dashboard
    pending = pq_app.enqueue(tasks.add, 3, 4, queue="nobody-runs-this")
    failed = pq_app.enqueue(tasks.fails_until, str(tmp_path / "never"))
    wait_until(has_status(pq_app, failed, "failed"), timeout=60)
    pq_app.pause_queue("read-only-paused")
    quiet = pq_app.task(tasks.add.fn, name=tasks.add.name, queue="nobody-runs-this")
    workflow = group(quiet.si(1, 1), quiet.si(2, 2)).delay()  # Cancel workflow elsewhere
    # Pages that offer every kind of action on a dashboard that may act (each shows the thing
    # the buttons would be for): none may show one here.
    pages = {
        "/": "read-only-paused",
        f"/tasks/{pending}": "pending",
        f"/workflows/{workflow.id}": "pending",
        f"/tasks/{failed}": "is missing",
        "/tasks?status=failed&name=fails_until": f"#{failed}",
        "/periodic": "six_hourly_report",
        "/workers": "alive",
    }
    context = browser.new_context()
    try:
        tab = context.new_page()
        for path, shown in pages.items():
            tab.goto(read_only.url + path)
            expect(tab.locator("header .mode")).to_have_text("read-only")
            expect(tab.locator("#live")).to_contain_text(shown)
            assert tab.locator("form[method=post]").count() == 0, path
            assert tab.locator("#live button").count() == 0, path
        csrf = tab.evaluate("document.cookie")  # HttpOnly: scripts cannot read it
        assert "pq_csrf" not in csrf
        refused = context.request.post(
            f"{read_only.url}/tasks/{pending}/cancel", form={"confirmed": "yes"}
        )
        assert refused.status == 403
        refused = context.request.post(
            f"{read_only.url}/workflows/{workflow.id}/cancel", form={"confirmed": "yes"}
        )
        assert refused.status == 403
    finally:
        context.close()
        pq_app.resume_queue("read-only-paused")
    assert not workflow.cancelled()
    task = pq_app.get_task(pending)
    assert task is not None and task.status.value == "pending"


def test_retry_all_failed_tasks_of_a_name(
    page: Page, dashboard: Dashboard, worker: Process, pq_app: PQ, tmp_path: Path
) -> None:
    source = tmp_path / "source"
    batches = [pq_app.enqueue(tasks.import_batch, str(source), n) for n in range(3)]
    for task_id in batches:
        wait_until(has_status(pq_app, task_id, "failed"), timeout=60)

    page.goto(dashboard.url + "/tasks")
    page.check("input[name=status][value=failed]")
    page.fill("input[name=name]", "import_batch")
    page.click("form.filters button[type=submit]")
    for task_id in batches:
        expect(page.locator(f"tr[data-task-id='{task_id}']")).to_be_visible()
    source.write_text("the upstream file arrived")
    page.click("button:has-text('Retry all failed')")
    expect(page.locator(".flash")).to_contain_text("3 failed tasks of import_batch pending again")
    # The page still lists the failed ones of that name: the live refresh empties it.
    expect(page.locator("#live")).to_contain_text("No task matches", timeout=60_000)
    for task_id in batches:
        wait_until(has_status(pq_app, task_id, "completed"), timeout=60)
        task = pq_app.get_task(task_id)
        assert task is not None and len(task.history) == 2


def test_mounted_under_a_prefix_of_another_site(
    browser: Browser, mounted_site: str, pq_app: PQ
) -> None:
    """`site.mount("/pq", dashboard(app))`: login, links, assets, live refresh and an action
    all stay under /pq, and the host site keeps its own routes."""
    task_id = pq_app.enqueue(tasks.add, 5, 5, queue="nobody-runs-this")
    context = browser.new_context()
    requested: list[str] = []
    failed: list[str] = []

    def on_response(response: Response) -> None:
        # A live refresh may race the delete and find the task gone: not a broken link.
        partial = "x-pq-partial" in response.request.headers
        if response.status >= 400 and not partial:
            failed.append(f"{response.status} {response.url}")

    def on_failure(request: Request) -> None:
        # A refresh still in flight when the page moves on is aborted: not a failure.
        if "ERR_ABORTED" not in (request.failure or ""):
            failed.append(f"{request.failure} {request.url}")

    try:
        tab = context.new_page()
        tab.on("request", lambda request: requested.append(request.url))
        tab.on("requestfailed", on_failure)
        tab.on("response", on_response)
        tab.goto(mounted_site + "/tasks")
        tab.fill("input[name=token]", TOKEN)
        tab.click("button[type=submit]")
        tab.wait_for_url(mounted_site + "/tasks")
        # The stylesheet applied and the script runs (it refreshes the live part).
        assert tab.evaluate("getComputedStyle(document.querySelector('header')).display") == (
            "flex"
        )
        expect(tab.locator("#refreshed")).to_contain_text("updated")
        tab.click("nav a:text-is('Overview')")
        tab.wait_for_url(mounted_site + "/")
        tab.goto(f"{mounted_site}/tasks?q={task_id}")
        tab.click(f"tr[data-task-id='{task_id}'] a")
        tab.wait_for_url(f"{mounted_site}/tasks/{task_id}")

        asked: list[str] = []

        def answer(yes: bool) -> Callable[[Dialog], None]:
            def handle(dialog: Dialog) -> None:
                asked.append(dialog.message)
                if yes:
                    dialog.accept()
                else:
                    dialog.dismiss()

            return handle

        tab.once("dialog", answer(False))
        tab.click("button:has-text('Delete')")
        assert asked == [f"Delete task #{task_id} for good?"]
        assert pq_app.get_task(task_id) is not None  # "no" changed nothing
        tab.once("dialog", answer(True))
        tab.click("button:has-text('Delete')")
        expect(tab.locator(".flash")).to_contain_text(f"Task #{task_id} is deleted")
        assert tab.url == f"{mounted_site}/tasks"
        assert pq_app.get_task(task_id) is None
        assert context.request.get(mounted_site.removesuffix("/pq") + "/").json() == {
            "site": "the host application"
        }
    finally:
        context.close()
    assert failed == []
    outside = [url for url in requested if not url.startswith(mounted_site + "/")]
    assert outside == [], "the page fetched something outside the mount path"
