"""Storage: SQLAlchemy 2.0 typed models, engine and session factories, Alembic migrations."""

from engine.persistence.base import Base
from engine.persistence.cases import (
    AuditEvent,
    Case,
    CaseParticipant,
    CaseTally,
    CaseUnit,
    Comment,
    FormSubmission,
    TaskDraft,
    TaskIndexRow,
)
from engine.persistence.catalogue import Organisation, Pathway, Region, Role, Unit
from engine.persistence.measures import DataPoint, Measure
from engine.persistence.models import ModelDraft, ModelVersion, ProcessModel
from engine.persistence.notifications import CalendarToken, Notification, OutboxMessage, Reminder
from engine.persistence.pdsa import PdsaCycle, PdsaRamp
from engine.persistence.security import AccountLock, SsoIdentity
from engine.persistence.users import ApiToken, LoginAttempt, User

__all__ = [
    "AccountLock",
    "ApiToken",
    "AuditEvent",
    "Base",
    "CalendarToken",
    "Case",
    "CaseParticipant",
    "CaseTally",
    "CaseUnit",
    "Comment",
    "DataPoint",
    "FormSubmission",
    "LoginAttempt",
    "Measure",
    "ModelDraft",
    "ModelVersion",
    "Notification",
    "Organisation",
    "OutboxMessage",
    "Pathway",
    "PdsaCycle",
    "PdsaRamp",
    "ProcessModel",
    "Region",
    "Reminder",
    "Role",
    "SsoIdentity",
    "TaskDraft",
    "TaskIndexRow",
    "Unit",
    "User",
]
