"""Schedule specs and next-tick maths, with a fixed clock (no database, no sleeping)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from pq import PQ, InvalidScheduleError
from pq.periodic.spec import make_spec

BERLIN = ZoneInfo("Europe/Berlin")


def berlin(*parts: int, fold: int = 0) -> datetime:
    return datetime(*parts, tzinfo=BERLIN, fold=fold)  # type: ignore[misc]


def ticks(
    cron: str, start: datetime, count: int, timezone: str = "Europe/Berlin"
) -> list[datetime]:
    spec = make_spec(cron=cron, timezone=timezone)
    found, moment = [], start
    for _ in range(count):
        moment = spec.next_after(moment)
        found.append(moment)
    return found


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({}, "exactly one of run_every= "),
        ({"run_every": timedelta(minutes=1), "cron": "* * * * *"}, "not both"),
        ({"run_every": timedelta(0)}, "not a positive interval"),
        ({"run_every": timedelta(seconds=-5)}, "not a positive interval"),
        ({"run_every": "5 minutes"}, "pass a timedelta"),
        ({"cron": "61 * * * *"}, "not a valid cron expression"),
        ({"cron": "every monday"}, "not a valid cron expression"),
        ({"cron": "0 9 * * 1 2026"}, "five fields"),
        ({"cron": "0 9 * * 1", "timezone": "Mars/Olympus"}, "not a known IANA timezone"),
    ],
)
def test_a_bad_schedule_is_refused_with_a_clear_error(
    kwargs: dict[str, object], words: str
) -> None:
    with pytest.raises(InvalidScheduleError, match=words):
        make_spec(**kwargs)  # type: ignore[arg-type]


def test_a_bad_declaration_fails_at_the_decorator_before_any_database_use() -> None:
    app = PQ("postgresql://nobody@127.0.0.1:1/never")  # never connected to
    with pytest.raises(InvalidScheduleError, match="not a valid cron"):
        app.periodic(cron="0 25 * * *")
    with pytest.raises(InvalidScheduleError, match="exactly one"):
        app.periodic()
    with pytest.raises(InvalidScheduleError, match="max_concurrent=0"):
        app.periodic(run_every=timedelta(seconds=1), max_concurrent=0)


def test_a_periodic_function_called_directly_runs_inline() -> None:
    app = PQ("postgresql://nobody@127.0.0.1:1/never")
    from taskmods import funcs

    periodic_add = app.periodic(run_every=timedelta(hours=1), args=[1, 2])(funcs.add)
    assert periodic_add(2, 3) == 5
    assert set(periodic_add.declarations) == {""}


def test_cron_keeps_wall_clock_time_across_spring_forward() -> None:
    # Europe/Berlin, Sunday 2026-03-29: 02:00 CET jumps to 03:00 CEST.
    daily = ticks("0 9 * * *", berlin(2026, 3, 27, 12), 3)
    assert [t.astimezone(BERLIN).hour for t in daily] == [9, 9, 9]
    assert [t.astimezone(UTC).hour for t in daily] == [8, 7, 7]  # the offset changed


def test_a_cron_time_inside_the_skipped_hour_runs_once_after_the_jump() -> None:
    runs = ticks("30 2 * * *", berlin(2026, 3, 28, 12), 3)
    assert [t.astimezone(BERLIN).replace(tzinfo=None) for t in runs] == [
        datetime(2026, 3, 29, 3, 30),  # 02:30 does not exist that night: shifted by the gap
        datetime(2026, 3, 30, 2, 30),
        datetime(2026, 3, 31, 2, 30),
    ]


def test_hourly_cron_has_no_double_tick_on_spring_forward() -> None:
    runs = ticks("0 * * * *", berlin(2026, 3, 29, 0, 30), 4)
    assert [t.astimezone(BERLIN).hour for t in runs] == [1, 3, 4, 5]
    gaps = {b - a for a, b in itertools.pairwise(runs)}
    assert gaps == {timedelta(hours=1)}


def test_a_repeated_cron_time_runs_once_on_fall_back() -> None:
    # Europe/Berlin, Sunday 2026-10-25: 03:00 CEST falls back to 02:00 CET; 02:30 happens twice.
    runs = ticks("30 2 * * *", berlin(2026, 10, 24, 12), 3)
    assert [t.astimezone(UTC).replace(tzinfo=None) for t in runs] == [
        datetime(2026, 10, 25, 0, 30),  # 02:30 CEST, the first of the two
        datetime(2026, 10, 26, 1, 30),  # the next day, 02:30 CET
        datetime(2026, 10, 27, 1, 30),
    ]


def test_a_cron_asked_during_the_repeated_hour_does_not_fire_again() -> None:
    second_pass = berlin(2026, 10, 25, 2, 40, fold=1)  # 02:40 CET, after 02:30 CEST ran
    (following,) = ticks("30 2 * * *", second_pass, 1)
    assert following.astimezone(BERLIN).replace(tzinfo=None) == datetime(2026, 10, 26, 2, 30)


def test_cron_keeps_wall_clock_time_across_fall_back() -> None:
    daily = ticks("0 9 * * *", berlin(2026, 10, 23, 12), 3)
    assert [t.astimezone(BERLIN).hour for t in daily] == [9, 9, 9]
    assert [t.astimezone(UTC).hour for t in daily] == [7, 8, 8]


def test_an_interval_schedule_starts_at_once_and_a_cron_one_at_its_next_match() -> None:
    now = datetime(2026, 5, 4, 10, 15, tzinfo=UTC)
    assert make_spec(run_every=timedelta(minutes=5)).first_run(now) == now
    assert make_spec(cron="0 * * * *").first_run(now) == datetime(2026, 5, 4, 11, tzinfo=UTC)


def test_after_downtime_the_next_slot_is_the_first_in_the_future_not_each_missed_one() -> None:
    spec = make_spec(run_every=timedelta(minutes=1))
    slot = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
    now = slot + timedelta(minutes=5, seconds=30)  # five ticks missed
    assert spec.advance(slot, now) == datetime(2026, 5, 4, 10, 6, tzinfo=UTC)  # phase kept
    assert spec.advance(slot, slot) == slot + timedelta(minutes=1)
    cron = make_spec(cron="0 * * * *")
    assert cron.advance(slot, now) == datetime(2026, 5, 4, 11, tzinfo=UTC)


def test_schedules_describe_themselves_for_listings() -> None:
    assert make_spec(run_every=timedelta(minutes=90)).describe() == "every 1h30m"
    assert make_spec(run_every=0.5).describe() == "every 0.5s"
    assert make_spec(cron="0 9 * * 1", timezone="Europe/Berlin").describe() == (
        "cron 0 9 * * 1 (Europe/Berlin)"
    )
