"""Cases (process instances) and what is derived from them: the task index, form submissions and
the audit trail."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import ForeignKey, Index, String, Table, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, deferred, mapped_column, relationship

from engine.clock import utcnow
from engine.persistence.base import Base, JSONText

CASE_STATUSES = ("running", "suspended", "completed", "cancelled")
CASE_PHASES = ("godkand_nationellt", "planering_pagar", "introducerad", "uppfoljning")


class Case(Base):
    """One introduction of one pathway in one region, running one model version.

    ``state`` is the workflow state without the spec (deferred: lists never load it). ``version``
    is bumped by every change and guards against lost updates (``case_store.update_case``).
    ``earliest_due_at`` is the earliest due date of its open user tasks, kept with the task index
    (``case_store``): the portfolio's late cases are an index range on it, most overdue first,
    however many cases there are.
    """

    __tablename__ = "cases"
    # The portfolio's cases that are not late, by status, the least recently changed first.
    __table_args__ = (Index("ix_cases_status_updated_at", "status", "updated_at", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    model_version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"), index=True)
    process_id: Mapped[str] = mapped_column(String(120))
    pathway_id: Mapped[int | None] = mapped_column(ForeignKey("pathways.id"), index=True)
    region_id: Mapped[int | None] = mapped_column(ForeignKey("regions.id"), index=True)
    title: Mapped[str] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(20), default="running")
    phase: Mapped[str | None] = mapped_column(String(40), default=None)
    version: Mapped[int] = mapped_column(default=1)
    next_timer_at: Mapped[datetime | None] = mapped_column(default=None, index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(default=None)
    earliest_due_at: Mapped[datetime | None] = mapped_column(default=None, index=True)
    state: Mapped[str] = deferred(mapped_column(Text))

    units: Mapped[list[CaseUnit]] = relationship(cascade="all, delete-orphan")
    participants: Mapped[list[CaseParticipant]] = relationship(cascade="all, delete-orphan")


class CaseTally(Base):
    """How many cases there are per pathway, region, status and phase: the portfolio's and the
    start page's counts, read without counting the cases.

    Kept by database triggers on ``cases`` (migration 0011), so that no writer — the services, a
    bulk import, a restore — can leave it wrong. Absent pathway, region or phase are stored as 0
    and "" (a primary key cannot hold NULL). Rows are never deleted; a count may fall to 0."""

    __tablename__ = "case_tallies"

    pathway_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    region_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    status: Mapped[str] = mapped_column(String(20), primary_key=True)
    phase: Mapped[str] = mapped_column(String(40), primary_key=True)
    n: Mapped[int] = mapped_column(default=0)


class CaseUnit(Base):
    """A unit the case introduces its pathway in."""

    __tablename__ = "case_units"

    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), primary_key=True)


class CaseParticipant(Base):
    """A person holding a role in a case, for the whole case (``unit_id`` None) or for one unit."""

    __tablename__ = "case_participants"
    __table_args__ = (
        UniqueConstraint("case_id", "user_id", "role_code", "unit_id"),
        Index("ix_case_participants_user_case", "user_id", "case_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    role_code: Mapped[str] = mapped_column(ForeignKey("roles.code"))
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), default=None)


class TaskIndexRow(Base):
    """One ready human task or one waiting event of a case, rebuilt with every change of the case.

    Inboxes and overviews read this table only; they never deserialize a workflow.
    """

    __tablename__ = "task_index"
    __table_args__ = (
        Index("ix_task_index_case_state", "case_id", "state"),
        Index("ix_task_index_lane_state", "lane", "state"),
        Index("ix_task_index_assignee_state", "assignee_id", "state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    task_id: Mapped[str] = mapped_column(String(36), unique=True)
    bpmn_id: Mapped[str] = mapped_column(String(200))
    process_id: Mapped[str] = mapped_column(String(120))
    name: Mapped[str] = mapped_column(String(300))
    # user | timer | signal
    kind: Mapped[str] = mapped_column(String(20))
    # ready | waiting
    state: Mapped[str] = mapped_column(String(20))
    lane: Mapped[str | None] = mapped_column(String(40), default=None)
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), default=None)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    form: Mapped[str | None] = mapped_column(String(200), default=None)
    event_name: Mapped[str | None] = mapped_column(String(200), default=None)
    ready_at: Mapped[datetime] = mapped_column(default=utcnow)
    due_at: Mapped[datetime | None] = mapped_column(default=None)
    # set when a coordinator changed the due date by hand (it then survives every re-index)
    due_overridden: Mapped[bool] = mapped_column(default=False, server_default=false())
    # the reminder schedule: the stages already sent and when the next one is due
    reminder_stage: Mapped[int] = mapped_column(default=0, server_default="0")
    next_reminder_at: Mapped[datetime | None] = mapped_column(default=None, index=True)


class FormSubmission(Base):
    """The values a person submitted for a task: who, when, what. The workflow keeps only the few
    values its gateways and timers read."""

    __tablename__ = "form_submissions"
    __table_args__ = (Index("ix_form_submissions_case_bpmn", "case_id", "bpmn_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    task_id: Mapped[str] = mapped_column(String(36), index=True)
    bpmn_id: Mapped[str] = mapped_column(String(200))
    task_name: Mapped[str] = mapped_column(String(300))
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), default=None)
    submitted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    submitted_at: Mapped[datetime] = mapped_column(default=utcnow)
    data: Mapped[dict[str, Any]] = mapped_column(JSONText)


class AuditEvent(Base):
    """Who did what, when, with the values before and after. Written by every change."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_case_at", "case_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), default=None)
    action: Mapped[str] = mapped_column(String(60))
    task_id: Mapped[str | None] = mapped_column(String(36), default=None)
    entity: Mapped[str | None] = mapped_column(String(60), default=None)
    entity_id: Mapped[str | None] = mapped_column(String(120), default=None)
    before: Mapped[dict[str, Any] | None] = mapped_column(JSONText, default=None)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSONText, default=None)
    details: Mapped[dict[str, Any] | None] = mapped_column(JSONText, default=None)


__all__ = ["AuditEvent", "Case", "CaseParticipant", "CaseUnit", "FormSubmission", "TaskIndexRow"]


class TaskDraft(Base):
    """A person's unfinished form for a task, kept until they complete it."""

    __tablename__ = "task_drafts"
    __table_args__ = (UniqueConstraint("task_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    task_id: Mapped[str] = mapped_column(String(36))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    saved_at: Mapped[datetime] = mapped_column(default=utcnow)
    data: Mapped[dict[str, Any]] = mapped_column(JSONText)


class Comment(Base):
    """A comment on a case, or on one of its tasks."""

    __tablename__ = "comments"
    __table_args__ = (Index("ix_comments_case_at", "case_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    task_id: Mapped[str | None] = mapped_column(String(36), default=None, index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    text: Mapped[str] = mapped_column(Text)


def _table(model: type[Base]) -> Table:
    return cast(Table, model.__table__)


# Core handles for the hot path (bulk inserts and single-row updates without ORM objects).
CASES: Table = _table(Case)
TASK_INDEX: Table = _table(TaskIndexRow)
FORM_SUBMISSIONS: Table = _table(FormSubmission)
AUDIT_EVENTS: Table = _table(AuditEvent)
