"""What the dashboard's HTTP tests share: reading the CSRF value a page's forms carry."""

from __future__ import annotations

import re


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page has no CSRF field"
    return found.group(1)
