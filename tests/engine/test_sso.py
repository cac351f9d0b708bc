"""Single sign-on's engine side (engine/services/sso.py), without Flask or a provider: the role map,
groups from claims, usernames, and provisioning from verified claims."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.errors import ValidationError
from engine.persistence import AuditEvent, LoginAttempt, SsoIdentity, User
from engine.services.sso import (
    RolePolicy,
    SsoRefusedError,
    claims_from_token,
    groups_from_claims,
    parse_role_map,
    role_for_groups,
    sign_in_with_sso,
    username_from,
)
from tests.factories import make_actor

POLICY = RolePolicy(role_map={"infora-admins": "admin", "infora-koordinatorer": "coordinator"})


def test_role_map_and_groups() -> None:
    assert parse_role_map(" a=admin, b = coordinator ,,c=member") == {"a": "admin", "b": "coordinator", "c": "member"}
    assert parse_role_map("") == {}
    assert parse_role_map("cn=infora=admin") == {"cn=infora": "admin"}  # the last '=' splits
    for bad in ("admins", "=admin", "a=root"):
        with pytest.raises(ValueError, match="INFORA_OIDC_ROLE_MAP"):
            parse_role_map(bad)
    assert role_for_groups(["infora-koordinatorer", "infora-admins"], POLICY.role_map) == "admin"
    assert role_for_groups(["infora-koordinatorer"], POLICY.role_map) == "coordinator"
    assert role_for_groups(["annat"], POLICY.role_map) == role_for_groups([], POLICY.role_map) == "member"
    claims = {"groups": ["a", "b"], "realm_access": {"roles": ["r1"]}, "spaced": "x y,z", "odd": {"k": 1}}
    assert groups_from_claims(claims, "groups") == ("a", "b")
    assert groups_from_claims(claims, "realm_access.roles") == ("r1",)
    assert groups_from_claims(claims, "spaced") == ("x", "y", "z")
    assert groups_from_claims(claims, "odd") == groups_from_claims(claims, "missing.path") == ()


def test_usernames_are_folded_to_local_ones() -> None:
    assert username_from("Åsa.Öberg@region.se", "s") == "asa.oberg-region.se"
    assert username_from("per", "s") == "per"
    made = username_from("Å", "subject-1")  # folds to one letter: too short
    assert made.startswith("sso-") and made == username_from("", "subject-1") != username_from("", "subject-2")
    assert len(username_from("x" * 300, "s")) == 80


def test_claims_need_issuer_and_subject() -> None:
    with pytest.raises(ValidationError):
        claims_from_token({"iss": "https://idp", "sub": ""}, POLICY)
    person = claims_from_token(
        {"iss": "https://idp", "sub": "42", "given_name": "Per", "family_name": "Ek", "email": "nej"}, POLICY
    )
    assert (person.username, person.display_name, person.email, person.groups) == ("42", "Per Ek", "", ())


def test_provisioning_creates_updates_and_refuses(session: Session) -> None:
    claims = claims_from_token(
        {"iss": "https://idp", "sub": "s1", "preferred_username": "lena", "name": "Lena", "groups": ["infora-admins"]},
        POLICY,
    )
    actor = sign_in_with_sso(session, claims, POLICY, "10.0.0.1")
    assert (actor.username, actor.system_role) == ("lena", "admin")
    # Without a role map the role stays as Infora has it (a small site turning on single sign-on).
    again = sign_in_with_sso(
        session, claims_from_token({"iss": "https://idp", "sub": "s1"}, RolePolicy()), RolePolicy()
    )
    assert (again.user_id, again.system_role) == (actor.user_id, "admin")
    user = session.get(User, actor.user_id)
    assert user is not None
    user.active = False
    with pytest.raises(SsoRefusedError) as refused:
        sign_in_with_sso(session, claims, POLICY)
    assert refused.value.reason == "deactivated"
    strict = RolePolicy(required_groups=frozenset({"infora-anvandare"}))
    newcomer = claims_from_token({"iss": "https://idp", "sub": "s2", "preferred_username": "ny"}, strict)
    with pytest.raises(SsoRefusedError) as outside:
        sign_in_with_sso(session, newcomer, strict)
    assert outside.value.reason == "not_in_required_group"
    assert session.scalars(select(User.username).order_by(User.id)).all() == ["lena"]
    assert session.scalars(select(SsoIdentity.subject)).all() == ["s1"]
    attempts = session.execute(select(LoginAttempt.success, LoginAttempt.method).order_by(LoginAttempt.id)).all()
    assert attempts == [(True, "oidc"), (True, "oidc"), (False, "oidc"), (False, "oidc")]
    reasons = [
        e.details["reason"] for e in session.scalars(select(AuditEvent).where(AuditEvent.action == "sign_in_refused"))
    ]
    assert reasons == ["deactivated", "not_in_required_group"]


def test_a_name_taken_by_another_identity_gets_a_free_variant(session: Session) -> None:
    make_actor(session, "kim")
    first = sign_in_with_sso(
        session, claims_from_token({"iss": "https://idp", "sub": "a", "preferred_username": "kim"}, POLICY), POLICY
    )
    second = sign_in_with_sso(
        session, claims_from_token({"iss": "https://idp", "sub": "b", "preferred_username": "kim"}, POLICY), POLICY
    )
    third = sign_in_with_sso(
        session, claims_from_token({"iss": "https://idp", "sub": "c", "preferred_username": "kim"}, POLICY), POLICY
    )
    assert (first.username, second.username, third.username) == ("kim", "kim-2", "kim-3")
