"""Storage: SQLAlchemy 2.0 typed models, engine and session factories, Alembic migrations."""

from engine.persistence.base import Base
from engine.persistence.cases import (
    AuditEvent,
    Case,
    CaseParticipant,
    CaseUnit,
    FormSubmission,
    TaskIndexRow,
)
from engine.persistence.catalogue import Organisation, Pathway, Region, Role, Unit
from engine.persistence.models import ModelVersion, ProcessModel
from engine.persistence.notifications import CalendarToken, Notification, OutboxMessage, Reminder
from engine.persistence.users import User

__all__ = [
    "AuditEvent",
    "Base",
    "CalendarToken",
    "Case",
    "CaseParticipant",
    "CaseUnit",
    "FormSubmission",
    "ModelVersion",
    "Notification",
    "Organisation",
    "OutboxMessage",
    "Pathway",
    "ProcessModel",
    "Region",
    "Reminder",
    "Role",
    "TaskIndexRow",
    "Unit",
    "User",
]
