"""The dashboard as an ASGI app: `dashboard(pq_app)` returns a Starlette application that
`pq dashboard` serves with uvicorn and that any ASGI site can mount under a path.

No page shows a traceback of the dashboard: errors become a short page (the details go to
the `pq.web` log), and a failure pq knows (no such task, database down) says what it is.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pq.errors import DatabaseUnavailableError, PQError, ScheduleNotFoundError, TaskNotFoundError
from pq.web import pages
from pq.web.actions import check_post, handler, read_form
from pq.web.render import finish, page, prefix_of
from pq.web.security import SESSION_COOKIE, Guard, safe_next

if TYPE_CHECKING:
    from pq.app import PQ

log = logging.getLogger("pq.web")


@dataclass(frozen=True)
class DashboardSettings:
    read_only: bool = False
    token: str | None = None
    refresh_seconds: float = 3.0
    allowed_hosts: list[str] = field(default_factory=lambda: ["*"])


def dashboard(
    app: PQ,
    *,
    read_only: bool = False,
    token: str | None = None,
    refresh_seconds: float = 3.0,
    allowed_hosts: list[str] | None = None,
) -> Starlette:
    """The dashboard of `app` as an ASGI application.

    Mount it in a site: `fastapi_app.mount("/pq", dashboard(app, token=...))`.
    token: every request must carry it (login form or `Authorization: Bearer`); set one
    whenever people other than you can reach the site. read_only: hide and refuse every
    action. allowed_hosts: Host header values to accept (default any; `pq dashboard` on a
    loopback address allows only loopback names, which stops DNS rebinding).
    """
    if token is not None and len(token) < 8:
        raise ValueError("the dashboard token must have at least 8 characters")
    if refresh_seconds <= 0:
        raise ValueError("refresh_seconds must be positive")
    settings = DashboardSettings(read_only, token, refresh_seconds, allowed_hosts or ["*"])
    site = Starlette(
        routes=_routes(),
        middleware=[
            Middleware(SecurityHeaders),
            Middleware(TrustedHostMiddleware, allowed_hosts=settings.allowed_hosts),
            Middleware(TokenGate, guard=Guard(token, read_only)),
        ],
        exception_handlers={HTTPException: _http_error, Exception: _server_error},
    )
    site.state.pq = app
    site.state.settings = settings
    return site


def _routes() -> list[Route | Mount]:
    action_routes = [
        Route("/tasks/retry-failed", handler("retry-failed"), methods=["POST"]),
        Route("/tasks/{task_id}/retry", handler("retry"), methods=["POST"]),
        Route("/tasks/{task_id}/cancel", handler("cancel"), methods=["POST"]),
        Route("/tasks/{task_id}/delete", handler("delete"), methods=["POST"]),
        Route("/workflows/{workflow_id}/cancel", handler("cancel-workflow"), methods=["POST"]),
        Route("/queues/pause", handler("pause-queue"), methods=["POST"]),
        Route("/queues/resume", handler("resume-queue"), methods=["POST"]),
        Route("/periodic/pause", handler("pause-schedule"), methods=["POST"]),
        Route("/periodic/resume", handler("resume-schedule"), methods=["POST"]),
        Route("/periodic/run", handler("run-schedule"), methods=["POST"]),
    ]
    return [
        *action_routes,
        Route("/", pages.overview, name="overview"),
        Route("/tasks", pages.tasks, name="tasks"),
        Route("/tasks/{task_id}", pages.task_detail, name="task"),
        Route("/workflows/{workflow_id}", pages.workflow_detail, name="workflow"),
        Route("/workers", pages.workers, name="workers"),
        Route("/periodic", pages.periodic, name="periodic"),
        Route("/login", _login, methods=["GET", "POST"], name="login"),
        Route("/logout", _logout, methods=["POST"], name="logout"),
        Mount("/static", StaticFiles(packages=[("pq.web", "static")]), name="static"),
    ]


# Scripts only from the dashboard's own files (a `<script>` smuggled into a page would not
# run even if escaping failed), no framing (clickjacking of the action buttons), forms only
# to ourselves.
_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        b"object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"cache-control", b"no-store"),
]


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *_HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)


class TokenGate:
    """Lets a request through only with the token (when there is one); login and the static
    files stay open so the login page can be shown."""

    def __init__(self, app: ASGIApp, guard: Guard) -> None:
        self.app = app
        self.guard = guard

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.guard.token is None:
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        path = request.url.path[len(prefix_of(request)) :]
        if (
            path in ("/login",)
            or path.startswith("/static/")
            or self.guard.is_authenticated(request)
        ):
            await self.app(scope, receive, send)
            return
        response: Response
        if request.method == "GET" and not request.headers.get("x-pq-partial"):
            target = prefix_of(request) + "/login?next=" + _quote_path(request)
            response = RedirectResponse(target, status_code=303)
        else:
            response = HTMLResponse(
                "401: this dashboard needs its token (log in first)", status_code=401
            )
        await response(scope, receive, send)


def _quote_path(request: Request) -> str:
    from urllib.parse import quote

    full = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return quote(full, safe="")


async def _login(request: Request) -> Response:
    guard = Guard(request.app.state.settings.token)
    target = safe_next(request.query_params.get("next"), prefix_of(request))
    if guard.token is None:
        return RedirectResponse(target, status_code=303)
    if request.method == "GET":
        return page(request, "login.html", next=target, failed=False)
    form = await read_form(request)
    check_post(request, form)
    submitted = form.get("token")
    if not isinstance(submitted, str) or not guard.token_matches(submitted):
        return page(request, "login.html", status_code=401, next=target, failed=True)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        guard.session_value(),
        path=prefix_of(request) or "/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    finish(request, response)
    return response


async def _logout(request: Request) -> Response:
    check_post(request, await read_form(request))
    response = RedirectResponse(prefix_of(request) + "/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path=prefix_of(request) or "/")
    return response


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return await _error_page(request, exc.status_code, str(exc.detail))


async def _server_error(request: Request, exc: Exception) -> Response:
    if isinstance(exc, TaskNotFoundError | ScheduleNotFoundError):
        return await _error_page(request, 404, str(exc))
    if isinstance(exc, DatabaseUnavailableError):
        return await _error_page(request, 503, f"The database cannot be reached: {exc}")
    if isinstance(exc, PQError | ValueError):
        return await _error_page(request, 400, str(exc).splitlines()[0][:300])
    incident = secrets.token_hex(4)
    log.exception("dashboard error (incident %s) on %s %s", incident, request.method, request.url)
    return await _error_page(
        request, 500, f"Something failed inside the dashboard (incident {incident} in its log)."
    )


async def _error_page(request: Request, status: int, message: str) -> Response:
    try:
        return await run_in_threadpool(
            page, request, "error.html", status_code=status, status=status, message=message
        )
    except Exception:  # the error page itself failed: a plain line, still no traceback
        log.exception("the error page failed")
        return HTMLResponse(f"{status}: the dashboard failed", status_code=status)
