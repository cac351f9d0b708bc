"""Reminder policy and schedule: when a person is reminded of a deadline, and when a late task is
escalated to the case's coordinator. Pure functions; the scheduler and the services store and act
on what they compute.

A policy is set per process model (``reminderOffsets`` and ``escalateAfter`` among the process's
``spiffworkflow:properties``) with defaults per deployment (``INFORA_REMINDER_OFFSETS``,
``INFORA_ESCALATE_AFTER``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from engine.workdays import DurationError, escalation_at, parse_duration, reminder_at

DEFAULT_OFFSETS = ("P7D", "P1D", "PT0S")
DEFAULT_ESCALATE_AFTER = "P1D"


@dataclass(frozen=True)
class ReminderPolicy:
    """Reminders ``offsets`` before the due day (``PT0S``: on the day) and an escalation
    ``escalate_after`` past it (None: never escalate)."""

    offsets: tuple[str, ...] = DEFAULT_OFFSETS
    escalate_after: str | None = DEFAULT_ESCALATE_AFTER

    @classmethod
    def parse(
        cls, offsets: str | None, escalate_after: str | None, base: ReminderPolicy | None = None
    ) -> ReminderPolicy:
        """A policy from property text (``"P7D, P1D, PT0S"``; ``"none"`` for no escalation), each
        missing part taken from ``base``; DurationError for a bad duration."""
        base = base or cls()
        parsed_offsets = base.offsets
        if offsets is not None and offsets.strip():
            parsed_offsets = tuple(p.strip() for p in offsets.split(",") if p.strip())
            for part in parsed_offsets:
                parse_duration(part)
        escalation = base.escalate_after
        if escalate_after is not None and escalate_after.strip():
            escalation = None if escalate_after.strip().lower() == "none" else escalate_after.strip()
            if escalation is not None:
                parse_duration(escalation)
        return cls(parsed_offsets, escalation)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ReminderPolicy:
        """The deployment's default policy."""
        env = os.environ if env is None else env
        try:
            return cls.parse(env.get("INFORA_REMINDER_OFFSETS"), env.get("INFORA_ESCALATE_AFTER"))
        except DurationError as err:
            raise ValueError(f"INFORA_REMINDER_OFFSETS / INFORA_ESCALATE_AFTER: {err}") from err

    def to_dict(self) -> dict[str, object]:
        """For the model catalogue."""
        return {"offsets": list(self.offsets), "escalate_after": self.escalate_after}


@dataclass(frozen=True)
class Stage:
    """One step of a task's reminder schedule (stages count from 1, in time order)."""

    number: int
    kind: str  # reminder | escalation
    offset: str
    at: datetime


_DEPLOYMENT: ReminderPolicy | None = None


def deployment_policy() -> ReminderPolicy:
    """The deployment's default policy (read from the environment once)."""
    global _DEPLOYMENT
    if _DEPLOYMENT is None:
        _DEPLOYMENT = ReminderPolicy.from_env()
    return _DEPLOYMENT


def schedule(due: datetime, policy: ReminderPolicy) -> list[Stage]:
    """Every reminder and the escalation of a deadline, earliest first (same-day duplicates
    merged: after moving to working days two offsets can meet)."""
    moments: list[tuple[datetime, str, str]] = []
    for offset in policy.offsets:
        moments.append((reminder_at(due, offset), "reminder", offset))
    moments.sort(key=lambda m: m[0])
    unique: list[tuple[datetime, str, str]] = []
    for moment in moments:
        if not unique or unique[-1][0] != moment[0]:
            unique.append(moment)
    if policy.escalate_after is not None:
        unique.append((escalation_at(due, policy.escalate_after), "escalation", policy.escalate_after))
    return [Stage(i + 1, kind, offset, at) for i, (at, kind, offset) in enumerate(unique)]


def next_stage(stages: list[Stage], done: int, not_before: datetime) -> Stage | None:
    """The first stage after ``done`` that lies after ``not_before`` (stages already in the past
    when a task appears are never sent: nobody needs a reminder "a week before" two days before)."""
    return next((s for s in stages if s.number > done and s.at > not_before), None)


def due_stage(stages: list[Stage], done: int, now: datetime) -> tuple[Stage, int] | None:
    """The latest stage due by ``now`` after ``done``, and how many earlier due stages it folds in
    (downtime catch-up: one message, not a flood)."""
    due = [s for s in stages if s.number > done and s.at <= now]
    if not due:
        return None
    return due[-1], len(due) - 1
