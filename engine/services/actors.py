"""Who is acting: the plain value every service receives instead of a web session."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from engine.errors import NotFoundError, PermissionDeniedError
from engine.persistence import User


@dataclass(frozen=True)
class Actor:
    """The person (or the system) performing a use case."""

    user_id: int | None
    username: str
    display_name: str
    system_role: str

    @property
    def is_admin(self) -> bool:
        """Admins may do everything."""
        return self.system_role == "admin"

    @property
    def is_coordinator(self) -> bool:
        """Coordinators (and admins) may start cases and publish models."""
        return self.system_role in ("admin", "coordinator")


SYSTEM_ACTOR = Actor(user_id=None, username="system", display_name="Infora", system_role="admin")


def actor_for_user(session: Session, user_id: int) -> Actor:
    """The actor for an active user account."""
    user = session.get(User, user_id)
    if user is None or not user.active:
        raise NotFoundError("Användaren finns inte.")
    return Actor(user.id, user.username, user.display_name, user.system_role)


def require_coordinator(actor: Actor) -> None:
    """Raise PermissionDeniedError unless the actor is a coordinator or admin."""
    if not actor.is_coordinator:
        raise PermissionDeniedError("Bara koordinatorer och administratörer får göra detta.")
