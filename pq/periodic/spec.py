"""Schedules and their next-tick maths. Pure: no SQL, no clock reads, no sleeping.

A schedule is either a fixed interval (`run_every`) or a cron expression read in the
schedule's timezone. Every function takes the current moment as an argument, so the maths is
tested with a fixed clock and the tick engine (pq/scheduler.py) feeds it the database's clock.

Cron and daylight saving time: the expression is matched against wall-clock time in the
schedule's timezone. A wall time that does not exist (the hour skipped when clocks spring
forward) fires at the moment the clocks jump, shifted forward by the gap (02:30 becomes 03:30);
a wall time that happens twice (the hour repeated when clocks fall back) fires once, at its
first occurrence.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from pq.errors import InvalidScheduleError

# A cron expression that matches nothing ("0 0 30 2 *": February 30th) would loop forever;
# after this many candidates we give up with a clear error instead.
_MAX_CRON_CANDIDATES = 10_000


@dataclass(frozen=True)
class ScheduleSpec:
    """When a schedule fires: every `every_seconds`, or at each match of `cron` in `timezone`."""

    every_seconds: float | None = None
    cron: str | None = None
    timezone: str = "UTC"

    def __post_init__(self) -> None:
        if (self.every_seconds is None) == (self.cron is None):
            raise InvalidScheduleError("give exactly one of run_every= and cron=")

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def describe(self) -> str:
        """A short human form for listings: 'every 5m', 'cron 0 9 * * 1 (Europe/Berlin)'."""
        if self.every_seconds is not None:
            return f"every {format_seconds(self.every_seconds)}"
        suffix = "" if self.timezone == "UTC" else f" ({self.timezone})"
        return f"cron {self.cron}{suffix}"

    def first_run(self, now: datetime) -> datetime:
        """The first tick of a new schedule: at once for an interval, else the next match."""
        if self.every_seconds is not None:
            return now
        return self.next_after(now)

    def next_after(self, moment: datetime) -> datetime:
        """The first tick strictly after `moment` (an interval counts from `moment`)."""
        if self.every_seconds is not None:
            return moment + timedelta(seconds=self.every_seconds)
        assert self.cron is not None
        return next_cron(self.cron, self.zone, moment)

    def advance(self, slot: datetime, now: datetime) -> datetime:
        """The next slot after the tick at `slot` was handled at `now`: always after `now`.

        However many slots were missed (the workers were down), the result is the first one
        still in the future, so a late schedule runs once and not once per missed tick. An
        interval keeps its phase: slots stay `slot + k * every`.
        """
        if self.every_seconds is None:
            return self.next_after(max(slot, now))
        step = timedelta(seconds=self.every_seconds)
        if slot > now:
            return slot + step
        missed = math.floor((now - slot) / step) + 1
        return slot + missed * step


def make_spec(
    run_every: timedelta | float | None = None,
    cron: str | None = None,
    timezone: str | None = None,
) -> ScheduleSpec:
    """Validates a declaration and returns its spec; every mistake is an InvalidScheduleError."""
    if (run_every is None) == (cron is None):
        raise InvalidScheduleError(
            "give exactly one of run_every= (a timedelta) and cron= (e.g. '0 9 * * 1'), "
            f"not {'both' if run_every is not None else 'neither'}"
        )
    zone_name = _valid_timezone(timezone or "UTC")
    if run_every is not None:  # an interval ignores the timezone (seconds are seconds)
        return ScheduleSpec(every_seconds=_valid_interval(run_every), timezone=zone_name)
    assert cron is not None
    return ScheduleSpec(cron=_valid_cron(cron), timezone=zone_name)


def _valid_interval(run_every: timedelta | float) -> float:
    if isinstance(run_every, bool) or not isinstance(run_every, timedelta | int | float):
        raise InvalidScheduleError(
            f"run_every={run_every!r}: pass a timedelta such as timedelta(minutes=5)"
        )
    seconds = run_every.total_seconds() if isinstance(run_every, timedelta) else float(run_every)
    if not math.isfinite(seconds) or seconds <= 0:
        raise InvalidScheduleError(
            f"run_every={run_every!r} is not a positive interval: use e.g. timedelta(seconds=30)"
        )
    return seconds


def _valid_cron(cron: str) -> str:
    text = " ".join(str(cron).split())
    fields = text.split(" ")
    if not (text.startswith("@") or len(fields) == 5) or not croniter.is_valid(text):
        raise InvalidScheduleError(
            f"cron={cron!r} is not a valid cron expression: use five fields "
            "'minute hour day-of-month month day-of-week' (e.g. '0 9 * * 1' for Mondays at "
            "09:00) or an alias such as '@daily'"
        )
    return text


def _valid_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidScheduleError(
            f"timezone={name!r} is not a known IANA timezone: use e.g. 'UTC' or 'Europe/Berlin'"
        ) from None
    return name


def next_cron(expression: str, zone: ZoneInfo, moment: datetime) -> datetime:
    """The first match of `expression` in `zone` strictly after `moment` (an aware datetime).

    croniter walks naive wall-clock times; each candidate becomes an instant with fold=0,
    which zoneinfo maps to the first occurrence of a repeated time and shifts a skipped time
    forward by the gap. Candidates at or before `moment` (possible around a fall-back) are
    passed over.
    """
    wall = moment.astimezone(zone).replace(tzinfo=None)
    candidates = croniter(expression, wall)
    for _ in range(_MAX_CRON_CANDIDATES):
        candidate: datetime = candidates.get_next(datetime)
        instant = candidate.replace(tzinfo=zone, fold=0).astimezone(UTC)
        if instant > moment:
            return instant
    raise InvalidScheduleError(f"cron={expression!r} never matches a real date")


def format_seconds(seconds: float) -> str:
    """90 -> '1m30s', 3600 -> '1h', 0.5 -> '0.5s'."""
    if seconds < 1 or seconds != int(seconds):
        return f"{seconds:g}s"
    rest = int(seconds)
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if rest >= size:
            parts.append(f"{rest // size}{unit}")
            rest %= size
    return "".join(parts)


@dataclass(frozen=True)
class PeriodicDefinition:
    """Everything a schedule row holds except its runtime state (next run, last run)."""

    name: str  # the task name, module:qualname
    key: str
    spec: ScheduleSpec
    args: list[Any] = field(default_factory=list)
    kwargs: dict[str, Any] = field(default_factory=dict)
    max_concurrent: int | None = 1
    active: bool = True
    priority: int = 50
    queue: str = "default"
    options: dict[str, Any] = field(default_factory=dict)  # max_runtime, max_memory, retries

    def __post_init__(self) -> None:
        check_max_concurrent(self.max_concurrent)
        if not isinstance(self.key, str):
            raise InvalidScheduleError(f"key={self.key!r}: a schedule key must be a string")


def check_max_concurrent(value: int | None) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise InvalidScheduleError(
            f"max_concurrent={value!r}: use a number >= 1, or None to allow any number of "
            "overlapping runs"
        )
