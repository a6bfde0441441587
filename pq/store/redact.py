"""Keeping connection secrets out of every message, log line and stored error.

A database URL carries a password (and maybe an `sslpassword`); libpq and psycopg quote the
whole URL in some of their errors (a URL that fails to parse is echoed verbatim). Everything
pq prints about a connection goes through `describe_url` or `redact`, so a secret never
reaches a terminal, a log collector or a task's stored error, which any dashboard reader sees.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

import psycopg

MASK = "***"

# Connection parameters whose value is a secret (libpq's "password" and "sslpassword").
SECRET_KEYS = frozenset({"password", "sslpassword"})

# `scheme://user:password@host` (any scheme: postgres, postgresql, or a typo of them): the
# userinfo is masked whole when a URL fails to parse, since its split is then unknown.
_URL_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^@/?#\s\"']*)@")
# `password=...` in a key/value string or a URL query, quoted or not.
_KEY_VALUE = re.compile(
    r"(?P<key>\b(?:ssl)?password)(?P<eq>\s*=\s*)(?P<value>'(?:[^'\\]|\\.)*'|[^\s&'\"]+)",
    re.IGNORECASE,
)


def secrets_of(url: str) -> list[str]:
    """The literal secrets of a connection string, longest first (for masking in any text)."""
    found: set[str] = set()
    try:
        info = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.Error:
        info = {}
    for key in SECRET_KEYS:
        value = info.get(key)
        if value:
            found.add(str(value))
    for match in _URL_USERINFO.finditer(url):
        userinfo = match.group("userinfo")
        _, sep, password = userinfo.partition(":")
        if sep and password:
            found.update({password, unquote(password)})
    for match in _KEY_VALUE.finditer(url):
        value = match.group("value").strip("'")
        if value:
            found.update({value, unquote(value)})
    return sorted((s for s in found if s), key=len, reverse=True)


def redact(text: str, url: str | None = None) -> str:
    """`text` with every password of any connection string in it masked, and every secret
    of `url` (when given) masked wherever it appears, even outside a URL."""
    if url:
        for secret in secrets_of(url):
            text = text.replace(secret, MASK)
    text = _KEY_VALUE.sub(lambda m: f"{m.group('key')}{m.group('eq')}{MASK}", text)
    return _URL_USERINFO.sub(_mask_userinfo, text)


def _mask_userinfo(match: re.Match[str]) -> str:
    user, sep, _ = match.group("userinfo").partition(":")
    return f"{match.group('scheme')}{user}{':' + MASK if sep else ''}@"


def describe_url(url: str) -> str:
    """The URL without its secrets, for messages and logs."""
    try:
        info = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.Error:
        return f"unparseable URL {_unparseable(url)!r}"
    return " ".join(f"{k}={MASK if k in SECRET_KEYS else v}" for k, v in info.items())


def _unparseable(url: str) -> str:
    # Its structure is unknown, so the whole userinfo goes (a user name may hold the password).
    masked = _URL_USERINFO.sub(lambda m: f"{m.group('scheme')}{MASK}@", url)
    return redact(masked, url)


def one_line(text: str) -> str:
    """The first non-empty line of an error message (libpq adds newlines and hints)."""
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return ""


def redact_url_error(message: str, url: str) -> str:
    """One line of a driver's error about `url`, the URL (if quoted) and its secrets masked."""
    line = one_line(message)
    if url and url in line:
        line = line.replace(url, _unparseable(url))
    return redact(line, url)
