"""The Swedish working-day calendar: due dates, reminder and escalation times.

Deadlines are local matters: "in 14 days" means 14 days on the wall calendar in Europe/Stockholm,
whatever daylight-saving change lies between, and a deadline or reminder that falls on a weekend or
a holiday moves to the working day before (an escalation, which is about being late, moves to the
working day after). Holidays come from the maintained ``holidays`` package: the public ones plus the
de facto ones nobody works (midsommarafton, julafton, nyårsafton).
"""

from __future__ import annotations

import re
from calendar import monthrange
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

STOCKHOLM = ZoneInfo("Europe/Stockholm")
REMINDER_TIME = time(8, 0)  # reminders and escalations go out at the start of a working day

_DURATION = re.compile(
    r"^P(?!$)(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?=\d)(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$"
)
_WEEKDAYS = ("måndag", "tisdag", "onsdag", "torsdag", "fredag", "lördag", "söndag")
_MONTHS = ("januari", "februari", "mars", "april", "maj", "juni", "juli", "augusti", "september", "oktober",
           "november", "december")  # fmt: skip


class DurationError(ValueError):
    """Not an ISO 8601 duration Infora understands (e.g. ``P14D``, ``P3M``, ``PT12H``)."""


@lru_cache(maxsize=64)
def _holidays(year: int) -> frozenset[date]:
    days = holidays.country_holidays("SE", years=year, categories=("public", "de_facto"))
    return frozenset(days.keys())


def warm_up(today: date | None = None) -> None:
    """Build this year's and next year's holiday calendars now. The first look-up imports the
    country's rules and computes the year (about 0.3 s): at a process's start rather than inside
    the first request that computes a due date."""
    year = (today or datetime.now(STOCKHOLM).date()).year
    _holidays(year)
    _holidays(year + 1)


def is_working_day(day: date) -> bool:
    """Monday to Friday, and not a Swedish public or de facto holiday."""
    return day.weekday() < 5 and day not in _holidays(day.year)


def previous_working_day(day: date) -> date:
    """``day`` itself when it is a working day, else the nearest working day before it."""
    while not is_working_day(day):
        day -= timedelta(days=1)
    return day


def next_working_day(day: date) -> date:
    """``day`` itself when it is a working day, else the nearest working day after it."""
    while not is_working_day(day):
        day += timedelta(days=1)
    return day


def parse_duration(text: str) -> dict[str, float]:
    """The parts of an ISO 8601 duration; DurationError when it is not one."""
    if not isinstance(text, str):
        raise _not_a_duration(text)
    return dict(_duration_parts(text))


def _not_a_duration(text: object) -> DurationError:
    return DurationError(f"'{text}' är ingen tidslängd enligt ISO 8601 (t.ex. P14D, P3M, PT12H).")


# A model has a handful of durations, parsed again for every task made ready and every reminder
# schedule: remembered (errors are not, and a bad text raises each time).
@lru_cache(maxsize=256)
def _duration_parts(text: str) -> tuple[tuple[str, float], ...]:
    match = _DURATION.match(text.strip())
    if match is None:
        raise _not_a_duration(text)
    return tuple((k, float(v)) for k, v in match.groupdict().items() if v is not None)


def add_duration(start: datetime, duration: str) -> datetime:
    """``start`` plus a duration, the date parts counted on the Stockholm wall calendar (months are
    calendar months, clamped to the month's last day) and the time parts as elapsed time."""
    parts = parse_duration(duration)
    local = start.astimezone(STOCKHOLM)
    months = int(parts.get("years", 0)) * 12 + int(parts.get("months", 0))
    year, month = divmod(local.month - 1 + months, 12)
    year += local.year
    month += 1
    day = min(local.day, monthrange(year, month)[1])
    moved = datetime.combine(date(year, month, day), local.time())
    moved += timedelta(days=int(parts.get("weeks", 0)) * 7 + int(parts.get("days", 0)))
    result = moved.replace(tzinfo=STOCKHOLM)  # wall-clock time; fold/gap resolved by zoneinfo
    elapsed = timedelta(hours=parts.get("hours", 0), minutes=parts.get("minutes", 0), seconds=parts.get("seconds", 0))
    return (result.astimezone(timezone.utc) + elapsed).astimezone(timezone.utc)


def due_at(ready_at: datetime, duration: str) -> datetime:
    """When a task that became ready at ``ready_at`` is due: the duration later, moved back to the
    previous working day (same local time) when it lands on a weekend or holiday."""
    due = add_duration(ready_at, duration).astimezone(STOCKHOLM)
    day = previous_working_day(due.date())
    return datetime.combine(day, due.time(), tzinfo=STOCKHOLM).astimezone(timezone.utc)


def reminder_at(due: datetime, before: str) -> datetime:
    """When to remind about a deadline: ``before`` ahead of the due day (``PT0S``: on the day), at
    the start of that working day, moved back to the previous working day when needed."""
    parts = parse_duration(before)
    local_due = due.astimezone(STOCKHOLM)
    back = timedelta(days=int(parts.get("weeks", 0)) * 7 + int(parts.get("days", 0)))
    day = local_due.date() - back
    months = int(parts.get("years", 0)) * 12 + int(parts.get("months", 0))
    if months:
        year, month = divmod(day.month - 1 - months, 12)
        year += day.year
        day = date(year, month + 1, min(day.day, monthrange(year, month + 1)[1]))
    day = previous_working_day(day)
    at = datetime.combine(day, REMINDER_TIME, tzinfo=STOCKHOLM).astimezone(timezone.utc)
    return min(at, due)


def escalation_at(due: datetime, after: str) -> datetime:
    """When an overdue task is escalated: ``after`` past the due day, at the start of that working
    day, moved forward to the next working day when needed."""
    day = add_duration(due, after).astimezone(STOCKHOLM).date()
    if day <= due.astimezone(STOCKHOLM).date():
        day += timedelta(days=1)
    day = next_working_day(day)
    return datetime.combine(day, REMINDER_TIME, tzinfo=STOCKHOLM).astimezone(timezone.utc)


def week_number(day: date) -> int:
    """The ISO week number, as Swedish calendars show it."""
    return day.isocalendar().week


def format_date_sv(moment: datetime | date) -> str:
    """E.g. ``måndag 3 november 2026 (v. 45)``, in Stockholm time."""
    day = moment.astimezone(STOCKHOLM).date() if isinstance(moment, datetime) else moment
    return f"{_WEEKDAYS[day.weekday()]} {day.day} {_MONTHS[day.month - 1]} {day.year} (v. {week_number(day)})"
