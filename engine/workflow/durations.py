"""ISO 8601 durations added to datetimes the way the engine's timers add them (months are
calendar months), for due dates computed outside a running workflow."""

from __future__ import annotations

from datetime import datetime

from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition


def add_duration(start: datetime, duration: str) -> datetime:
    """``start`` plus an ISO 8601 duration such as ``P14D`` or ``P3M``."""
    parsed = TimerEventDefinition.parse_iso_duration(duration)
    result: datetime = start + TimerEventDefinition.get_timedelta_from_start(parsed, start)
    return result
