"""Templates and the filters they use. Jinja2 autoescapes everything: a value from a row
(arguments, results, errors, names) reaches the page as text, never as markup."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from pq.web.security import CSRF_COOKIE, FLASH_COOKIE, SESSION_COOKIE, csrf_value

_PICKLE_KEY = "__pq_pickle__"


def age(moment: datetime | None, now: datetime | None = None) -> str:
    """'4s', '3m 12s', '2h 5m', '3d 4h' since `moment` (future moments read 'in 5s')."""
    if moment is None:
        return "-"
    seconds = ((now or datetime.now(UTC)) - moment).total_seconds()
    text = duration(abs(seconds))
    return text if seconds >= 0 else f"in {text}"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 10:
        return f"{seconds:.2f}s" if seconds < 1 else f"{seconds:.1f}s"
    whole = int(seconds)
    for unit, size, sub, sub_size in (("d", 86400, "h", 3600), ("h", 3600, "m", 60)):
        if whole >= size:
            return f"{whole // size}{unit} {whole % size // sub_size}{sub}"
    return f"{whole // 60}m {whole % 60}s" if whole >= 60 else f"{whole}s"


def kib(value: int | None) -> str:
    if value is None:
        return "-"
    return f"{value / 1024:.1f} MiB" if value >= 1024 else f"{value} KiB"


def when(moment: datetime | None) -> str:
    return "-" if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def pretty(value: Any) -> str:
    """JSON as stored, indented. A pickled value is never unpickled here: that would run code
    chosen by whoever wrote the row inside the dashboard's process."""
    if isinstance(value, dict) and _PICKLE_KEY in value:
        return "(a pickled value: the dashboard does not unpickle it)"
    return json.dumps(value, indent=2, ensure_ascii=False, default=str, sort_keys=True)


def percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("pq.web", "templates"),
        autoescape=select_autoescape(["html"], default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(age=age, duration=duration, kib=kib, when=when, pretty=pretty)
    env.filters["percent"] = percent
    return env


ENV = _environment()


def prefix_of(request: Request) -> str:
    """The path the dashboard is mounted under ('' at the root, '/pq' when mounted there)."""
    return str(request.scope.get("root_path", "")).rstrip("/")


def page(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """Renders a template with what every page needs (links, CSRF field, flash, settings)."""
    settings = request.app.state.settings
    flash = unquote(request.cookies.get(FLASH_COOKIE, ""))[:500] or None
    body = ENV.get_template(template).render(
        request=request,
        base=prefix_of(request),
        csrf=csrf_value(request),
        read_only=settings.read_only,
        logged_in=settings.token is not None and SESSION_COOKIE in request.cookies,
        refresh_ms=int(settings.refresh_seconds * 1000),
        flash=flash,
        **context,
    )
    response = HTMLResponse(body, status_code=status_code)
    finish(request, response)
    return response


def finish(request: Request, response: Any) -> None:
    """Sets a new CSRF cookie if this request made one, and drops a flash once shown."""
    path = prefix_of(request) or "/"
    fresh = request.scope.get("pq.new_csrf")
    if fresh:
        response.set_cookie(CSRF_COOKIE, fresh, path=path, httponly=True, samesite="strict")
    if request.cookies.get(FLASH_COOKIE) and request.headers.get("x-pq-partial") is None:
        response.delete_cookie(FLASH_COOKIE, path=path)
