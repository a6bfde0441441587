"""The dashboard's locks: the access token, CSRF on every POST, and the host rules.

- Token: when the dashboard has one, every request must carry it, either as
  `Authorization: Bearer <token>` (scripts) or as the session cookie the login form sets. The
  cookie holds an HMAC of the token, never the token, and is compared in constant time.
- CSRF: a random per-browser value lives in an HttpOnly, SameSite=Strict cookie and in a
  hidden field of every form (double submit); a POST whose field does not match, or whose
  Origin is another site's, is refused before any handler runs.
- Loopback: `is_loopback()` lets the command refuse to listen beyond this machine without a
  token; `LOOPBACK_HOSTS` feeds the Host check that stops DNS-rebinding pages reaching a
  dashboard bound to 127.0.0.1.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from dataclasses import dataclass
from urllib.parse import urlsplit

from starlette.requests import Request

CSRF_COOKIE = "pq_csrf"
CSRF_FIELD = "csrf_token"
SESSION_COOKIE = "pq_session"
FLASH_COOKIE = "pq_flash"

LOOPBACK_HOSTS = ["127.0.0.1", "localhost", "::1", "[::1]"]


def is_loopback(host: str) -> bool:
    """True for 'localhost' and loopback addresses (127.0.0.0/8, ::1)."""
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Guard:
    """Who may read (the token) and whether anyone may act (read_only)."""

    token: str | None = None
    read_only: bool = False

    def session_value(self) -> str:
        """What the session cookie holds once the token was given: HMAC(token), not the token."""
        assert self.token is not None
        return hmac.new(self.token.encode(), b"pq-dashboard-session", hashlib.sha256).hexdigest()

    def token_matches(self, candidate: str) -> bool:
        return self.token is not None and hmac.compare_digest(
            candidate.encode(), self.token.encode()
        )

    def is_authenticated(self, request: Request) -> bool:
        if self.token is None:
            return True
        header = request.headers.get("authorization", "")
        if header.lower().startswith("bearer ") and self.token_matches(header[7:].strip()):
            return True
        cookie = request.cookies.get(SESSION_COOKIE, "")
        return bool(cookie) and hmac.compare_digest(cookie, self.session_value())


def new_csrf_value() -> str:
    return secrets.token_urlsafe(32)


def csrf_value(request: Request) -> str:
    """This browser's CSRF value: its cookie's, or a fresh one the response will set."""
    existing = request.cookies.get(CSRF_COOKIE)
    if existing and len(existing) >= 32:
        return existing
    fresh: str = request.scope.setdefault("pq.new_csrf", new_csrf_value())
    return fresh


def csrf_ok(request: Request, submitted: str | None) -> bool:
    cookie = request.cookies.get(CSRF_COOKIE, "")
    return bool(cookie and submitted) and hmac.compare_digest(cookie, str(submitted))


def same_origin(request: Request) -> bool:
    """A browser names the page a POST comes from; it must be this site's own (no Origin or
    Referer at all is allowed: scripts with the bearer token send neither)."""
    source = request.headers.get("origin") or request.headers.get("referer")
    if not source:
        return True
    if source == "null":  # an opaque origin (sandboxed frame, data: URL): never ours
        return False
    parts = urlsplit(source)
    return f"{parts.scheme}://{parts.netloc}" == f"{request.url.scheme}://{request.url.netloc}"


def safe_next(target: str | None, prefix: str) -> str:
    """Where to go after login: a path inside the dashboard, never another site."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return prefix + "/"
