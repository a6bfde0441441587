"""The dashboard in a real browser: Debian's Chromium driven by Playwright, a real `pq
dashboard` (uvicorn) on a free loopback port, and a real `pq worker`, on one database per
module. One browser serves the whole module; each test gets a fresh context (no cookies).
"""

from __future__ import annotations

import itertools
import os
import re
import socket
import subprocess
import threading
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
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from waiting import wait_until

_counter = itertools.count()
# A loaded 2-core machine can take seconds to answer: wait up to 20 s for what a test expects
# to see (only a failing test waits that long).
expect.set_options(timeout=20_000)


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


APP = "taskmods.dashboard_app:app"


@pytest.fixture(scope="module")
def services(start_process: Callable[..., Process]) -> dict[str, Process]:
    """The processes the module's tests run against, all started at once (their Python
    start-up is most of the module's set-up time) and awaited by the fixtures below: a
    dashboard with a token, a read-only one, and a worker."""
    serve = ("dashboard", APP, "--port", "0", "--refresh", "1")
    return {
        "dashboard": start_process(*serve, "--token", TOKEN),
        "read_only": start_process(*serve, "--read-only"),
        "worker": start_process("worker", APP, "-q", "web", "-q", "held", "-c", "2"),
    }


def _serving(process: Process) -> Dashboard:
    def address() -> str | None:
        if process.proc.poll() is not None:
            raise AssertionError(f"pq dashboard exited:\n{process.output()}")
        found = re.search(r"pq dashboard on (http://\S+/)", process.output())
        return found.group(1).rstrip("/") if found else None

    url = wait_until(address, timeout=90)
    return Dashboard(process.proc, process.log, url)


@pytest.fixture(scope="module")
def dashboard(services: dict[str, Process]) -> Dashboard:
    """The module's dashboard, with a token (so tests can show that actions need it)."""
    return _serving(services["dashboard"])


@pytest.fixture(scope="module")
def read_only_dashboard(services: dict[str, Process]) -> Dashboard:
    """`pq dashboard --read-only`, without a token."""
    return _serving(services["read_only"])


@pytest.fixture(scope="module")
def worker(services: dict[str, Process], pq_app: PQ) -> Process:
    wait_until(lambda: any(w.state == "alive" for w in pq_app.list_workers()), timeout=90)
    return services["worker"]


@pytest.fixture(scope="module")
def login_state(
    browser: Browser, dashboard: Dashboard, tmp_path_factory: pytest.TempPathFactory
) -> str:
    """Cookies of a browser that logged in through the module dashboard's form, once: each
    test's context starts from them instead of logging in again."""
    ctx = browser.new_context()
    try:
        tab = ctx.new_page()
        tab.goto(dashboard.url + "/")
        tab.fill("input[name=token]", TOKEN)
        tab.click("button[type=submit]")
        tab.wait_for_url(dashboard.url + "/")
        state = tmp_path_factory.mktemp("login") / "state.json"
        ctx.storage_state(path=str(state))
    finally:
        ctx.close()
    return str(state)


@pytest.fixture
def context(browser: Browser, login_state: str) -> Iterator[BrowserContext]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, storage_state=login_state)
    ctx.set_default_timeout(20_000)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    """A page logged in to the module's dashboard."""
    tab = context.new_page()
    # Every action asks first; the tests answer yes the way a person would.
    tab.on("dialog", lambda dialog: dialog.accept())
    return tab


@pytest.fixture(scope="module")
def mounted_site(dash_db: str) -> Iterator[str]:
    """The dashboard mounted at /pq inside a FastAPI site with routes of its own, served by
    uvicorn in a thread of this process; yields the dashboard's address (…/pq)."""
    import uvicorn
    from fastapi import FastAPI

    from pq.dashboard import dashboard as make_dashboard

    app = PQ(dash_db)
    site = FastAPI()
    site.add_api_route("/", lambda: {"site": "the host application"})
    site.mount("/pq", make_dashboard(app, token=TOKEN, refresh_seconds=1))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    # Not in the main thread, uvicorn installs no signal handlers; should_exit stops it.
    server = uvicorn.Server(uvicorn.Config(site, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        wait_until(lambda: server.started or not thread.is_alive(), timeout=30)
        assert server.started, "uvicorn did not start"
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/pq"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()
        app.close()
