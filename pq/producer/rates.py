"""Rate limit specs: "100/m", "20/s", "5/h", "1000/d", "10/30s" (count per window)."""

from __future__ import annotations

import re

from pq.errors import ConfigurationError

_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_SPEC = re.compile(r"^\s*(\d+)\s*/\s*(\d*(?:\.\d+)?)\s*([smhd])\s*$")


def parse_rate(spec: str) -> tuple[int, float]:
    """(count, window seconds) of a spec such as "100/m" or "10/30s"."""
    match = _SPEC.match(spec) if isinstance(spec, str) else None
    if match is None:
        raise ConfigurationError(
            f"rate_limit={spec!r}: write it as COUNT/UNIT such as '100/m', '20/s', '5/h' "
            "or '10/30s' (units s, m, h, d)"
        )
    count, number, unit = int(match[1]), float(match[2] or 1), match[3]
    seconds = number * _UNITS[unit]
    if count <= 0 or seconds <= 0:
        raise ConfigurationError(f"rate_limit={spec!r}: the count and window must be > 0")
    return count, seconds
