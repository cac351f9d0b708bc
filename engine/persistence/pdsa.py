"""PDSA ramps and cycle records (DOMAIN.md "The PDSA loop").

A ramp is the sequence of cycles one unit runs on one change idea; each cycle's record is written
by the Plan, Do, Study and Act tasks of the loop (not kept in the workflow's data), so the record
outlives the workflow state and can be searched across cases.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import Column, ForeignKey, Index, String, Table, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from engine.clock import utcnow
from engine.persistence.base import Base, JSONText

RAMP_STATUSES = ("active", "adopted", "abandoned")
CYCLE_STAGES = ("plan", "do", "study", "act", "done")
ACT_DECISIONS = ("adopt", "adapt", "abandon")

ramp_measures = Table(
    "pdsa_ramp_measures",
    Base.metadata,
    Column("ramp_id", ForeignKey("pdsa_ramps.id"), primary_key=True),
    Column("measure_id", ForeignKey("measures.id"), primary_key=True),
)
"""The measures a ramp moves (matched from the Plan's data-collection plan)."""


class PdsaRamp(Base):
    """One unit's cycles on one change idea, from the first Plan to the Act that adopts or abandons."""

    __tablename__ = "pdsa_ramps"
    __table_args__ = (Index("ix_pdsa_ramps_case_unit_status", "case_id", "unit_id", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), default=None)
    aim: Mapped[str] = mapped_column(Text, default="")
    change_idea: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[str] = mapped_column(String(20), default="active")
    started_on: Mapped[date] = mapped_column()
    ended_on: Mapped[date | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PdsaCycle(Base):
    """The record of one PDSA cycle; ``stage`` is the step the cycle waits for next."""

    __tablename__ = "pdsa_cycles"
    __table_args__ = (
        UniqueConstraint("ramp_id", "number"),
        Index("ix_pdsa_cycles_case_unit", "case_id", "unit_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    ramp_id: Mapped[int] = mapped_column(ForeignKey("pdsa_ramps.id"))
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), default=None)
    number: Mapped[int] = mapped_column()
    stage: Mapped[str] = mapped_column(String(10), default="do")
    # Plan
    objective: Mapped[str] = mapped_column(Text, default="")
    purpose: Mapped[str] = mapped_column(String(40), default="")
    change_idea: Mapped[str] = mapped_column(String(200), default="")
    questions: Mapped[list[dict[str, Any]]] = mapped_column(JSONText, default=list)
    plan_tasks: Mapped[list[dict[str, Any]]] = mapped_column(JSONText, default=list)
    data_collection: Mapped[list[dict[str, Any]]] = mapped_column(JSONText, default=list)
    # Do
    carried_out_as_planned: Mapped[bool | None] = mapped_column(default=None)
    observations: Mapped[str] = mapped_column(Text, default="")
    problems: Mapped[str] = mapped_column(Text, default="")
    unexpected_findings: Mapped[str] = mapped_column(Text, default="")
    # Study
    results: Mapped[list[dict[str, Any]]] = mapped_column(JSONText, default=list)
    learnt: Mapped[str] = mapped_column(Text, default="")
    # Act
    act_decision: Mapped[str | None] = mapped_column(String(10), default=None)
    next_cycle_plan: Mapped[str] = mapped_column(Text, default="")
    scale_up: Mapped[bool] = mapped_column(default=False)
    # Period: started when the Plan is done; ends when the loop's timer fires (start + 3 months by
    # default, moved to the timer's due time once the Do step is done).
    started_on: Mapped[date] = mapped_column()
    ends_on: Mapped[date] = mapped_column()
    completed_at: Mapped[datetime | None] = mapped_column(default=None)
    # What the learning library searches: the Study and Act conclusions, folded to lower case.
    search_text: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


# Core handles for the PDSA step's record (services/pdsa.py ``record_step``: plain rows, no ORM).
PDSA_RAMPS: Table = cast(Table, PdsaRamp.__table__)
PDSA_CYCLES: Table = cast(Table, PdsaCycle.__table__)
