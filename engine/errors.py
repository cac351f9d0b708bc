"""The domain's exception tree.

Services raise these; the web layer maps each class to one HTTP status in one place. Every error
carries a Swedish message (the UI's default language) and a stable ``code`` a client can switch on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


class InforaError(Exception):
    """Base of every domain error.

    Attributes:
        message: a plain-language Swedish message, fit to show a user.
        code: a stable machine-readable code.
    """

    code = "error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class NotFoundError(InforaError):
    """The thing asked for does not exist (or the actor may not know that it does)."""

    code = "not_found"


class NotAuthenticatedError(InforaError):
    """Nobody is signed in, or the credentials (an API token) are not valid."""

    code = "not_authenticated"


class PermissionDeniedError(InforaError):
    """The actor may not do this, e.g. lacks the role of the task's lane."""

    code = "permission_denied"


class ConflictError(InforaError):
    """The request clashes with the current state: a task not ready, a stale version, a taken claim."""

    code = "conflict"


class TooManyAttemptsError(InforaError):
    """Too many failed attempts in a short time (sign-in); try again later."""

    code = "too_many_attempts"


class AccountLockedError(TooManyAttemptsError):
    """An account is locked after repeated failed passwords (an administrator can unlock it).

    Attributes:
        locked_until: when the lock runs out (UTC).
    """

    code = "account_locked"

    def __init__(self, message: str, locked_until: datetime) -> None:
        super().__init__(message)
        self.locked_until = locked_until


class ValidationError(InforaError):
    """Input data is invalid.

    Attributes:
        field_errors: messages per field path (``"areas/0/name"``; ``""`` for the whole form).
    """

    code = "validation"

    def __init__(self, message: str, field_errors: dict[str, list[str]] | None = None) -> None:
        super().__init__(message)
        self.field_errors: dict[str, list[str]] = field_errors or {}


@dataclass(frozen=True)
class ModelIssue:
    """One problem found in a process model, pinned to a BPMN element where there is one."""

    code: str
    message: str
    element_id: str | None = None
    file: str | None = None
    severity: str = "error"
    details: dict[str, str] = field(default_factory=dict)


class InvalidModelError(InforaError):
    """A process model (BPMN + forms) cannot be published.

    Attributes:
        issues: every problem found, each with its element id.
    """

    code = "invalid_model"

    def __init__(self, issues: list[ModelIssue]) -> None:
        summary = "; ".join(f"{i.element_id}: {i.message}" if i.element_id else i.message for i in issues[:5])
        more = f" (+{len(issues) - 5} till)" if len(issues) > 5 else ""
        super().__init__(f"Processmodellen kan inte publiceras: {summary}{more}")
        self.issues = issues


class WorkflowError(InforaError):
    """The engine could not continue a case (e.g. a condition names data the case lacks)."""

    code = "workflow_error"
