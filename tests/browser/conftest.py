"""The dashboard in a real browser: Debian's Chromium driven by Playwright, a real `pq
dashboard` (uvicorn) on a free loopback port, and a real `pq worker`, on one database per
module. One browser serves the whole module; each test gets a fresh context (no cookies).
"""

from __future__ import annotations

import itertools
import os
import re
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from worker_procs import PQ_COMMAND, TESTS, pq_env

from pq import PQ

pytest.importorskip("playwright", reason="the browser tests need the dev extra (playwright)")
from dashboard_harness import (
    CHROMIUM,
    CHROMIUM_ARGS,
    TOKEN,
    Dashboard,
    Process,
)
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from waiting import wait_until

_counter = itertools.count()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    # One browser per module (there is one), closed when it is done: Playwright's sync API
    # keeps an event loop running in this thread until then, which would break later tests
    # that call asyncio.run() or ask Django whether they are in async code.
    if not Path(CHROMIUM).exists():
        message = f"no Chromium at {CHROMIUM}: apt-get install chromium (.ci/run does)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture(scope="module")
def dash_db(server_url: str, template_db: str) -> Iterator[str]:
    """One migrated database for a module's tests (they use distinct tasks and queues)."""
    name = f"pq_test_dash_{os.getpid()}_{next(_counter)}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(template_db)
            )
        )
    params = psycopg.conninfo.conninfo_to_dict(server_url)
    params["dbname"] = name
    yield psycopg.conninfo.make_conninfo(**params)  # type: ignore[arg-type]
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@pytest.fixture(scope="module")
def pq_app(dash_db: str) -> Iterator[PQ]:
    """The test's own handle on the database (enqueue, read back)."""
    app = PQ(dash_db)
    yield app
    app.close()


@pytest.fixture(scope="module")
def start_process(
    tmp_path_factory: pytest.TempPathFactory, dash_db: str
) -> Iterator[Callable[..., Process]]:
    started: list[Process] = []
    logs = tmp_path_factory.mktemp("dashboard-logs")

    def start(*args: str, **env: str) -> Process:
        log = logs / f"{args[0]}-{len(started)}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [*PQ_COMMAND, *args],
                env=pq_env(dash_db, **env),
                cwd=TESTS,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        started.append(Process(proc, log))
        return started[-1]

    yield start
    for process in started:
        process.stop()


@pytest.fixture(scope="module")
def start_dashboard(start_process: Callable[..., Process]) -> Callable[..., Dashboard]:
    def start(*options: str) -> Dashboard:
        process = start_process(
            "dashboard", "taskmods.dashboard_app:app", "--port", "0", "--refresh", "1", *options
        )

        def address() -> str | None:
            if process.proc.poll() is not None:
                raise AssertionError(f"pq dashboard exited:\n{process.output()}")
            found = re.search(r"pq dashboard on (http://\S+/)", process.output())
            return found.group(1).rstrip("/") if found else None

        url = wait_until(address, timeout=30)
        return Dashboard(process.proc, process.log, url)

    return start


@pytest.fixture(scope="module")
def dashboard(start_dashboard: Callable[..., Dashboard]) -> Dashboard:
    """The module's dashboard, with a token (so tests can show that actions need it)."""
    return start_dashboard("--token", TOKEN)


@pytest.fixture(scope="module")
def worker(start_process: Callable[..., Process], pq_app: PQ) -> Process:
    process = start_process(
        "worker", "taskmods.dashboard_app:app", "-q", "web", "-q", "held", "-c", "2"
    )
    wait_until(lambda: any(w.state == "alive" for w in pq_app.list_workers()), timeout=30)
    return process


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    ctx.set_default_timeout(15_000)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: BrowserContext, dashboard: Dashboard) -> Page:
    """A page logged in to the module's dashboard through its login form."""
    tab = context.new_page()
    tab.goto(dashboard.url + "/")
    tab.fill("input[name=token]", TOKEN)
    tab.click("button[type=submit]")
    tab.wait_for_url(dashboard.url + "/")
    # Every action asks first; the tests answer yes the way a person would.
    tab.on("dialog", lambda dialog: dialog.accept())
    return tab
