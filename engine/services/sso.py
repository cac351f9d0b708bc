"""Single sign-on: a person signed in by the region's OpenID Connect provider becomes (or is) a local
user. The web layer does the protocol (authorization code with PKCE, state, nonce, the ID token's
signature, issuer, audience and expiry) and hands over the verified claims; this module turns them
into an account and a system role. Pure apart from the session: no HTTP, no Flask.

- The provider's account (issuer + ``sub``) is linked to one local user (``SsoIdentity``). The first
  sign-in creates the user, or links an unlinked local account with the same username that has no
  password or has the e-mail address the provider gives: a region moving from local accounts to
  single sign-on keeps its people's cases and history.
- With a role map, the system role follows the groups claim on every sign-in (the provider is the
  source of truth): the highest role any of the person's groups maps to, otherwise ``member``.
  Without one, new people are members and roles are managed in Infora.
- A deactivated user is refused; so is a person outside the required groups when some are set.
- Every sign-in and every refusal is recorded as a ``LoginAttempt`` (method ``oidc``) and an audit
  event, like local sign-ins.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.clock import utcnow
from engine.errors import PermissionDeniedError, ValidationError
from engine.persistence import LoginAttempt, SsoIdentity, User
from engine.persistence.users import SYSTEM_ROLES
from engine.services.actors import SYSTEM_ACTOR, Actor
from engine.services.audit import audit_row, write_audit
from engine.services.users import USERNAME, create_user

METHOD = "oidc"
# Higher index = more rights; the highest mapped role wins.
_RANK = {"member": 0, "coordinator": 1, "admin": 2}


class SsoRefusedError(PermissionDeniedError):
    """A single sign-on was refused.

    Attributes:
        reason: a stable code for the audit trail (``deactivated``, ``not_in_required_group``,
            ``invalid_claims``, or the protocol's reason from the web layer).
    """

    code = "sso_refused"

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class RolePolicy:
    """How the provider's groups become rights here.

    Attributes:
        groups_claim: the claim holding the person's groups (a dotted path reaches into nested
            claims, e.g. ``realm_access.roles``).
        role_map: group name -> system role (``admin`` or ``coordinator``; ``member`` is the default).
        required_groups: when not empty, only members of one of these groups may sign in.
    """

    groups_claim: str = "groups"
    role_map: Mapping[str, str] = field(default_factory=dict)
    required_groups: frozenset[str] = frozenset()


@dataclass(frozen=True)
class SsoClaims:
    """What a verified ID token says about a person.

    Attributes:
        issuer, subject: the provider and its stable id for the person (``iss``, ``sub``).
        username: the local username it asks for (from ``preferred_username``, else ``sub``).
        display_name, email: shown in Infora and used for e-mail reminders.
        groups: the person's groups from the groups claim.
    """

    issuer: str
    subject: str
    username: str
    display_name: str
    email: str
    groups: tuple[str, ...]


def parse_role_map(text: str) -> dict[str, str]:
    """``"infora-admins=admin,infora-koordinatorer=coordinator"`` as a dict; ValueError names a bad
    entry (the web layer refuses to start with one: a typo must not silently leave admins out)."""
    mapping: dict[str, str] = {}
    for entry in text.split(","):
        if not entry.strip():
            continue
        group, sep, role = entry.rpartition("=")
        group, role = group.strip(), role.strip()
        if not sep or not group or role not in SYSTEM_ROLES:
            raise ValueError(
                f"INFORA_OIDC_ROLE_MAP: '{entry.strip()}' is not GROUP=ROLE with ROLE one of {SYSTEM_ROLES}"
            )
        mapping[group] = role
    return mapping


def groups_from_claims(claims: Mapping[str, Any], claim: str) -> tuple[str, ...]:
    """The groups in ``claim`` (a dotted path): a list of strings, or one string of names separated by
    spaces or commas. Missing or of another type: no groups."""
    value: Any = claims
    for part in claim.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return ()
        value = value[part]
    if isinstance(value, str):
        return tuple(g for g in re.split(r"[\s,]+", value) if g)
    if isinstance(value, list | tuple):
        return tuple(str(g) for g in value if isinstance(g, str | int) and str(g))
    return ()


def role_for_groups(groups: Iterable[str], role_map: Mapping[str, str]) -> str:
    """The highest system role any of the groups maps to; ``member`` when none does."""
    role = "member"
    for group in groups:
        mapped = role_map.get(group)
        if mapped is not None and _RANK.get(mapped, 0) > _RANK[role]:
            role = mapped
    return role


def username_from(preferred: str, subject: str) -> str:
    """A valid local username: the provider's ``preferred_username`` folded to a–z, digits and
    ``._-`` (``Åsa.Öberg@region.se`` -> ``asa.oberg-region.se``), else one made from ``sub``."""
    folded = unicodedata.normalize("NFKD", preferred).encode("ascii", "ignore").decode("ascii").lower()
    folded = re.sub(r"[^a-z0-9._-]+", "-", folded).strip("-._")[:80].rstrip("-._")
    if USERNAME.match(folded):
        return folded
    return "sso-" + hashlib.sha256(subject.encode("utf-8")).hexdigest()[:16]


def claims_from_token(claims: Mapping[str, Any], policy: RolePolicy) -> SsoClaims:
    """The person in a verified ID token's claims; ValidationError when ``iss`` or ``sub`` is
    missing (the protocol checks should already have refused such a token)."""
    issuer, subject = claims.get("iss"), claims.get("sub")
    if not isinstance(issuer, str) or not issuer or not isinstance(subject, str) or not subject:
        raise ValidationError("ID-token saknar iss eller sub.")
    preferred = claims.get("preferred_username")
    username = username_from(preferred if isinstance(preferred, str) and preferred else subject, subject)
    name = claims.get("name")
    if not isinstance(name, str) or not name.strip():
        parts = [claims.get("given_name"), claims.get("family_name")]
        name = " ".join(p for p in parts if isinstance(p, str) and p.strip())
    email = claims.get("email")
    return SsoClaims(
        issuer=issuer[:255],
        subject=subject[:255],
        username=username,
        display_name=(name.strip() if name else username)[:200],
        email=email.strip()[:254] if isinstance(email, str) and "@" in email else "",
        groups=groups_from_claims(claims, policy.groups_claim),
    )


def record_refusal(
    session: Session, reason: str, *, username: str = "", ip: str = "", user_id: int | None = None
) -> None:
    """Record a refused single sign-on (a login attempt and an audit event with the reason). Nothing
    else is stored; the caller commits."""
    session.add(LoginAttempt(username=username[:80], ip=ip[:64], success=False, method=METHOD))
    details = {"method": METHOD, "reason": reason, "ip": ip, "username": username}
    row = audit_row(
        SYSTEM_ACTOR if user_id is None else Actor(user_id, username, username, "member"),
        "sign_in_refused",
        entity="user",
        entity_id=str(user_id) if user_id is not None else None,
        details=details,
    )
    write_audit(session, [row])


def _free_username(session: Session, wanted: str) -> str:
    taken = set(session.scalars(select(User.username).where(User.username.like(f"{wanted[:75]}%"))))
    if wanted not in taken:
        return wanted
    n = 2
    while f"{wanted[:75]}-{n}" in taken:
        n += 1
    return f"{wanted[:75]}-{n}"


def sign_in_with_sso(session: Session, claims: SsoClaims, policy: RolePolicy, ip: str = "") -> Actor:
    """The actor for a person the provider has signed in: creates or links the user on the first
    sign-in, updates name, e-mail and system role on later ones. Raises SsoRefusedError (recorded;
    the caller must commit even then) for a deactivated user or one outside the required groups."""
    now = utcnow()
    identity = session.scalar(
        select(SsoIdentity).where(SsoIdentity.issuer == claims.issuer, SsoIdentity.subject == claims.subject)
    )
    user = session.get(User, identity.user_id) if identity is not None else None
    if user is None:
        # A local account with the name, not yet linked to this provider, links to this identity
        # when nothing but the name could be claimed by someone else: it has no password (made for
        # single sign-on), or the provider gives the e-mail address the account already has (a
        # region moving to single sign-on). The name alone is no proof (OpenID Connect does not
        # promise preferred_username is unique, and names are folded): anyone the provider calls
        # "chefen" would become the administrator who signs in with a password. Otherwise the
        # newcomer gets a free variant of the name, as when the account is someone else's.
        same_name = session.scalar(select(User).where(User.username == claims.username))
        if (
            same_name is not None
            and (same_name.password_hash is None or (same_name.email or "").lower() == claims.email.lower())
            and session.scalar(
                select(SsoIdentity.id).where(SsoIdentity.user_id == same_name.id, SsoIdentity.issuer == claims.issuer)
            )
            is None
        ):
            user = same_name
    if user is not None and not user.active:
        record_refusal(session, "deactivated", username=user.username, ip=ip, user_id=user.id)
        raise SsoRefusedError("Kontot är avstängt. Kontakta en administratör.", "deactivated")
    if policy.required_groups and not policy.required_groups.intersection(claims.groups):
        record_refusal(session, "not_in_required_group", username=claims.username, ip=ip)
        raise SsoRefusedError(
            "Ditt konto har inte behörighet till Infora. Kontakta en administratör.", "not_in_required_group"
        )
    role = role_for_groups(claims.groups, policy.role_map)  # member when there is no map
    audit: list[dict[str, Any]] = []
    if user is None:
        user = create_user(
            session,
            SYSTEM_ACTOR,
            username=_free_username(session, claims.username),
            display_name=claims.display_name,
            email=claims.email,
            system_role=role,  # no password: signs in through the provider, until an admin sets one
            details={"method": METHOD, "issuer": claims.issuer},
        )
    else:
        before = {"display_name": user.display_name, "email": user.email, "system_role": user.system_role}
        user.display_name = claims.display_name or user.display_name
        user.email = claims.email or user.email
        if policy.role_map:
            # Without a role map, roles are kept in Infora (admin page, `infora user`): a small site
            # turning on single sign-on must not demote its administrators.
            user.system_role = role
        after = {"display_name": user.display_name, "email": user.email, "system_role": user.system_role}
        changed = {k: v for k, v in after.items() if before[k] != v}
        if changed:
            audit.append(
                audit_row(
                    SYSTEM_ACTOR,
                    "user_updated",
                    entity="user",
                    entity_id=str(user.id),
                    before={k: before[k] for k in changed},
                    after=changed,
                    details={"method": METHOD, "groups": list(claims.groups)},
                )
            )
    if identity is None:
        identity = SsoIdentity(user_id=user.id, issuer=claims.issuer, subject=claims.subject, created_at=now)
        session.add(identity)
        audit.append(
            audit_row(
                SYSTEM_ACTOR,
                "sso_linked",
                entity="user",
                entity_id=str(user.id),
                details={"issuer": claims.issuer, "subject": claims.subject},
            )
        )
    identity.last_sign_in_at = now
    session.add(LoginAttempt(username=user.username, ip=ip[:64], success=True, method=METHOD))
    actor = Actor(user.id, user.username, user.display_name, user.system_role)
    audit.append(
        audit_row(actor, "signed_in", entity="user", entity_id=str(user.id), details={"ip": ip, "method": METHOD})
    )
    write_audit(session, audit)
    session.flush()
    return actor
