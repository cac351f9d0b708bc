"""The Swedish working-day calendar: weekends, public and de facto holidays, daylight saving."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from engine import workdays
from engine.workdays import (
    STOCKHOLM,
    DurationError,
    add_duration,
    due_at,
    escalation_at,
    format_date_sv,
    is_working_day,
    parse_duration,
    previous_working_day,
    reminder_at,
)


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=STOCKHOLM)  # type: ignore[misc]


def test_holidays_and_weekends() -> None:
    assert is_working_day(date(2026, 6, 18))  # the day before midsommarafton
    assert not is_working_day(date(2026, 6, 19))  # midsommarafton (de facto)
    assert not is_working_day(date(2026, 12, 24))  # julafton
    assert not is_working_day(date(2026, 12, 31))  # nyårsafton
    assert not is_working_day(date(2026, 6, 6))  # nationaldagen (a Saturday anyway)
    assert not is_working_day(date(2026, 4, 3))  # långfredagen
    assert not is_working_day(date(2026, 5, 14))  # Kristi himmelsfärd
    assert is_working_day(date(2026, 5, 15))  # klämdag: a working day by law
    assert previous_working_day(date(2026, 11, 22)) == date(2026, 11, 20)  # Sunday -> Friday
    assert previous_working_day(date(2026, 4, 6)) == date(2026, 4, 2)  # annandag påsk -> skärtorsdag


def test_a_reminder_due_on_a_saturday_goes_out_on_friday() -> None:
    due = local(2026, 11, 23, 15, 0)  # Monday
    assert reminder_at(due, "P2D") == local(2026, 11, 20, 8, 0)  # Saturday 21st -> Friday 20th
    assert reminder_at(due, "PT0S") == local(2026, 11, 23, 8, 0)


def test_a_reminder_on_midsommarafton_goes_out_the_day_before() -> None:
    due = local(2026, 6, 22, 12, 0)  # Monday after midsummer
    assert reminder_at(due, "P3D") == local(2026, 6, 18, 8, 0)
    assert due_at(local(2026, 6, 5, 10, 0), "P14D") == local(2026, 6, 18, 10, 0)  # due on the eve -> Thursday


def test_deadlines_across_the_october_dst_change_land_on_the_right_local_day() -> None:
    ready = local(2026, 10, 21, 0, 30)  # CEST (UTC+2), just after midnight
    due = due_at(ready.astimezone(timezone.utc), "P14D")
    assert due.astimezone(STOCKHOLM) == local(2026, 11, 4, 0, 30)  # CET (UTC+1): same wall time, 14 days on
    assert due.astimezone(timezone.utc) == datetime(2026, 11, 3, 23, 30, tzinfo=timezone.utc)
    naive_utc = ready.astimezone(timezone.utc) + timedelta(days=14)  # what UTC arithmetic would give
    assert naive_utc.astimezone(STOCKHOLM).date() == date(2026, 11, 3)  # ... the wrong day
    # A reminder the morning before, across the spring change too.
    assert reminder_at(local(2026, 3, 30, 9, 0), "P1D") == local(2026, 3, 27, 8, 0)  # Sunday 29th -> Friday


def test_months_are_calendar_months_and_escalations_move_forward() -> None:
    assert add_duration(local(2026, 1, 31, 9, 0), "P1M") == local(2026, 2, 28, 9, 0)
    assert add_duration(local(2026, 1, 12, 9, 0), "P3M") == local(2026, 4, 12, 9, 0)
    assert add_duration(local(2026, 1, 12, 9, 0), "PT36H") == local(2026, 1, 13, 21, 0)
    assert escalation_at(local(2026, 12, 23, 16, 0), "P1D") == local(2026, 12, 28, 8, 0)  # over Christmas


def test_durations_are_checked() -> None:
    assert parse_duration("P1Y2M3W4DT5H6M7S") == {
        "years": 1, "months": 2, "weeks": 3, "days": 4, "hours": 5, "minutes": 6, "seconds": 7,
    }  # fmt: skip
    for bad in ("", "P", "PT", "14D", "P14", "P1.5D", "P-1D", "3 månader"):
        with pytest.raises(DurationError):
            parse_duration(bad)


def test_swedish_date_format_with_week_number() -> None:
    assert format_date_sv(local(2026, 11, 3, 23, 30)) == "tisdag 3 november 2026 (v. 45)"
    assert format_date_sv(datetime(2026, 11, 3, 23, 30, tzinfo=timezone.utc)) == "onsdag 4 november 2026 (v. 45)"


def test_warm_up_builds_this_and_next_years_calendars_before_any_request() -> None:
    workdays._holidays.cache_clear()
    workdays.warm_up(date(2031, 6, 1))
    assert workdays._holidays.cache_info().currsize == 2
    hits = workdays._holidays.cache_info().hits
    assert not is_working_day(date(2031, 12, 24)) and not is_working_day(date(2032, 1, 1))
    assert workdays._holidays.cache_info().hits == hits + 2  # both years came from the warm cache
