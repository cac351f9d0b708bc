"""Template filters and globals: Swedish dates with week numbers (English on request), labels for
statuses, phases and PDSA terms, the header's counts."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from flask import Flask, g
from flask_babel import format_date, get_locale, lazy_gettext

from engine.services.inbox import inbox_count
from engine.services.reminders import unread_count
from engine.workdays import STOCKHOLM, format_date_sv, week_number
from web import labels
from web.db import get_session

PHASES = {
    "godkand_nationellt": lazy_gettext("Godkänd nationellt"),
    "planering_pagar": lazy_gettext("Planering pågår"),
    "introducerad": lazy_gettext("Introducerad"),
    "uppfoljning": lazy_gettext("Uppföljning"),
}
STATUSES = {
    "running": lazy_gettext("Pågår"),
    "suspended": lazy_gettext("Pausad"),
    "completed": lazy_gettext("Avslutad"),
    "cancelled": lazy_gettext("Avbruten"),
}
NATIONAL = {
    "godkand": lazy_gettext("Godkänt"),
    "under_framtagande": lazy_gettext("Under framtagande"),
    "under_uppstart": lazy_gettext("Under uppstart"),
}
SKANE = {
    "planering_pagar": lazy_gettext("Planering pågår"),
    "startar_snart": lazy_gettext("Startar inom kort"),
    "introducerad": lazy_gettext("Introducerad"),
}


def day(value: datetime | date | None) -> str:
    """A date as people read it: "tisdag 3 november 2026 (v. 45)"."""
    if value is None:
        return "–"
    if str(get_locale()) == "sv":
        return format_date_sv(value)
    local = value.astimezone(STOCKHOLM).date() if isinstance(value, datetime) else value
    return f"{format_date(local, 'EEEE d MMMM y')} (week {week_number(local)})"


def short_day(value: datetime | date | None) -> str:
    """A compact date: 2026-11-03."""
    if value is None:
        return "–"
    local = value.astimezone(STOCKHOLM).date() if isinstance(value, datetime) else value
    return local.isoformat()


def clock(value: datetime | None) -> str:
    """Date and time in Stockholm: 2026-11-03 14:05."""
    if value is None:
        return "–"
    return value.astimezone(STOCKHOLM).strftime("%Y-%m-%d %H:%M")


def _header_counts() -> dict[str, Any]:
    actor = g.get("actor")
    if actor is None:
        return {"task_count": 0, "unread_count": 0}
    db = get_session()
    return {
        "task_count": inbox_count(db, actor),
        "unread_count": unread_count(db, actor.user_id) if actor.user_id else 0,
    }


def init_app(app: Flask) -> None:
    """Register the filters and the globals every page uses."""
    app.add_template_filter(day)
    app.add_template_filter(short_day)
    app.add_template_filter(clock)
    app.jinja_env.globals.update(
        PHASES=PHASES,
        STATUSES=STATUSES,
        NATIONAL=NATIONAL,
        SKANE=SKANE,
        **labels.GLOBALS,
    )
    app.context_processor(lambda: {"header": _header_counts, "actor": g.get("actor"), "locale": str(get_locale())})
