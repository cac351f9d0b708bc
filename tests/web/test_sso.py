"""Single sign-on end to end: the app (Flask test client, in the browser's place) against a real
OpenID Connect provider on 127.0.0.1 (tests/oidc_provider.py), which the app reaches over HTTP for
discovery, the token and the keys. Sign-in creates or links the user with the mapped role, the role
follows the groups, and every kind of forged or stale answer is refused with nothing stored but the
record of the refusal."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from engine.config import ConfigurationError
from engine.persistence import AuditEvent, LoginAttempt, SsoIdentity, User
from engine.services import SYSTEM_ACTOR
from engine.services.sso import parse_role_map
from engine.services.users import set_password
from tests.factories import make_actor
from tests.live_server import serve
from tests.oidc_provider import OidcProvider
from tests.web.pages import client_for
from web import create_app
from web.sso import settings_from

ROLE_MAP = "infora-admins=admin,infora-koordinatorer=coordinator"


@pytest.fixture()
def provider() -> Iterator[OidcProvider]:
    p = OidcProvider()
    with serve(p.app(), "oidc-provider") as base:
        p.issuer = base
        yield p


def _app(db_engine: Engine, provider: OidcProvider, **extra: str) -> Flask:
    config = {
        "TESTING": True,
        "DATABASE_URL": db_engine.url.render_as_string(hide_password=False),
        "SECRET_KEY": "test",
        "INFORA_OIDC_ISSUER": provider.issuer,
        "INFORA_OIDC_CLIENT_ID": provider.client_id,
        "INFORA_OIDC_CLIENT_SECRET": provider.client_secret,
        "INFORA_OIDC_ROLE_MAP": ROLE_MAP,
        **extra,
    }
    return create_app(config)


@pytest.fixture()
def app(session: Session, db_engine: Engine, provider: OidcProvider) -> Iterator[Flask]:
    session.commit()  # end the fixture's write transaction: the app writes to the same database
    app = _app(db_engine, provider)
    yield app
    app.extensions["infora.engine"].dispose()


def _authorize(client: FlaskClient, provider: OidcProvider, next_path: str = "/oversikt") -> str:
    """Start at Infora, follow the browser's way through the provider; the callback URL it returns."""
    start = client.get(f"/sso/logga-in?next={next_path}")
    assert start.status_code == 302, start.get_data(as_text=True)
    assert start.headers["Location"].startswith(f"{provider.issuer}/authorize?")
    back = requests.get(start.headers["Location"], allow_redirects=False, timeout=10)
    assert back.status_code == 302, back.text
    return back.headers["Location"]


def _callback(client: FlaskClient, location: str, **replace: str) -> TestResponse:
    parts = urlsplit(location)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()} | replace
    return client.get(f"{parts.path}?{urlencode(query)}")


def sso_sign_in(client: FlaskClient, provider: OidcProvider, **replace: str) -> TestResponse:
    return _callback(client, _authorize(client, provider), **replace)


def _signed_in_as(client: FlaskClient) -> int | None:
    with client.session_transaction() as s:
        return s.get("user_id")


def _counts(session: Session) -> tuple[int, int]:
    session.commit()  # a fresh snapshot: the app wrote in its own transactions
    users = session.scalar(select(func.count()).select_from(User)) or 0
    identities = session.scalar(select(func.count()).select_from(SsoIdentity)) or 0
    return users, identities


def _refusals(session: Session) -> list[dict[str, object]]:
    session.commit()  # a fresh snapshot: the app wrote in its own transactions
    events = session.scalars(select(AuditEvent).where(AuditEvent.action == "sign_in_refused").order_by(AuditEvent.id))
    return [e.details or {} for e in events]


def test_sign_in_page_offers_the_region_account_only_when_configured(
    app: Flask, session: Session, db_engine: Engine
) -> None:
    page = app.test_client().get("/logga-in?next=/oversikt").get_data(as_text=True)
    assert "Logga in med regionens konto" in page and 'href="/sso/logga-in?next=/oversikt"' in page
    plain = create_app({"TESTING": True, "DATABASE_URL": db_engine.url.render_as_string(hide_password=False),
                        "SECRET_KEY": "test"})  # fmt: skip
    try:
        assert "regionens konto" not in plain.test_client().get("/logga-in").get_data(as_text=True)
        assert plain.test_client().get("/sso/logga-in").status_code == 404
        assert plain.test_client().get("/sso/callback?code=x&state=y").status_code == 404
    finally:
        plain.extensions["infora.engine"].dispose()


def test_first_sign_in_creates_the_user_with_the_mapped_role(
    app: Flask, session: Session, provider: OidcProvider
) -> None:
    client = app.test_client()
    done = sso_sign_in(client, provider)
    assert done.status_code == 302 and done.headers["Location"] == "/oversikt"
    session.commit()
    user = session.scalar(select(User))
    assert user is not None
    assert (user.username, user.display_name, user.email, user.system_role, user.password_hash) == (
        "asa.oberg-region.example", "Åsa Öberg", "asa.oberg@region.example", "coordinator", None,
    )  # fmt: skip
    identity = session.scalar(select(SsoIdentity))
    assert identity is not None and (identity.issuer, identity.subject, identity.user_id) == (
        provider.issuer, provider.user.sub, user.id,
    )  # fmt: skip
    assert _signed_in_as(client) == user.id
    assert client.get("/uppgifter").status_code == 200
    # The protocol was the strict one: PKCE S256 with a verifier, a nonce, the registered redirect URI.
    authorize = provider.authorize_requests[-1]
    assert authorize["code_challenge_method"] == "S256" and authorize["nonce"] and authorize["state"]
    assert authorize["redirect_uri"] == "http://127.0.0.1:5000/sso/callback"
    assert provider.token_requests[-1]["code_verifier"]
    attempt = session.scalar(select(LoginAttempt))
    assert attempt is not None and (attempt.username, attempt.success, attempt.method) == (user.username, True, "oidc")
    actions = list(session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))
    assert actions == ["user_created", "sso_linked", "signed_in"]


def test_the_role_follows_the_groups_on_every_sign_in(app: Flask, session: Session, provider: OidcProvider) -> None:
    roles = []
    for groups in (["infora-koordinatorer"], ["infora-admins", "infora-koordinatorer"], ["annat"], []):
        provider.user.groups = groups
        client = app.test_client()
        assert sso_sign_in(client, provider).status_code == 302
        session.commit()  # a fresh snapshot: the app wrote in its own transactions
        roles.append(session.scalars(select(User.system_role)).one())
    assert roles == ["coordinator", "admin", "member", "member"]
    assert _counts(session) == (1, 1)  # the same person every time
    changes = session.scalars(select(AuditEvent).where(AuditEvent.action == "user_updated").order_by(AuditEvent.id))
    assert [(e.before, e.after) for e in changes] == [
        ({"system_role": "coordinator"}, {"system_role": "admin"}),
        ({"system_role": "admin"}, {"system_role": "member"}),
    ]


def test_an_unlinked_local_account_with_the_name_is_linked_and_another_identity_gets_its_own(
    app: Flask, session: Session, provider: OidcProvider
) -> None:
    local = make_actor(session, "anna", "admin")
    session.commit()
    provider.user.preferred_username = "anna"
    provider.user.groups = ["infora-admins"]
    assert sso_sign_in(app.test_client(), provider).status_code == 302
    session.commit()
    linked = session.scalar(select(SsoIdentity))
    assert linked is not None and linked.user_id == local.user_id
    provider.user.sub = "someone-else"  # another person the provider also calls "anna"
    client = app.test_client()
    assert sso_sign_in(client, provider).status_code == 302
    session.commit()
    assert session.scalars(select(User.username).order_by(User.id)).all() == ["anna", "anna-2"]
    assert _signed_in_as(client) != local.user_id


def test_a_local_account_with_a_password_is_never_taken_over_by_a_provider_name(
    app: Flask, session: Session, provider: OidcProvider
) -> None:
    # Anyone the provider calls "chefen" (a name folded from "Chéfen" too) would otherwise become
    # the local administrator who signs in with a password.
    local = make_actor(session, "chefen", "admin")
    set_password(session, SYSTEM_ACTOR, "chefen", "ett-langt-losenord")
    session.commit()
    provider.user.preferred_username = "Chéfen"
    provider.user.groups = []
    client = app.test_client()
    assert sso_sign_in(client, provider).status_code == 302
    session.commit()
    newcomer = session.scalars(select(User).where(User.id != local.user_id)).one()
    assert (newcomer.username, newcomer.system_role) == ("chefen-2", "member")
    assert _signed_in_as(client) == newcomer.id
    assert session.scalar(select(SsoIdentity.user_id)) == newcomer.id
    # The account's own e-mail address from the provider links it (a region moving to single sign-on).
    session.get(User, local.user_id).email = "chefen@region.example"  # type: ignore[union-attr]
    session.commit()
    provider.user.sub, provider.user.email = "the-real-chefen", "Chefen@Region.example"
    client = app.test_client()
    assert sso_sign_in(client, provider).status_code == 302
    assert _signed_in_as(client) == local.user_id


@pytest.mark.parametrize(
    ("knob", "value", "reason"),
    [
        ("nonce_override", "another-nonce", "id_token:InvalidClaimError"),
        ("sign_with_forged_key", True, "id_token:BadSignatureError"),
        ("lifetime_seconds", -600, "expired"),
        ("audience_override", "another-client", "id_token:InvalidClaimError"),
        ("issuer_claim_override", "https://evil.example", "id_token:InvalidClaimError"),
    ],
)
def test_a_bad_id_token_is_refused_and_nothing_is_stored(
    app: Flask, session: Session, provider: OidcProvider, knob: str, value: object, reason: str
) -> None:
    setattr(provider, knob, value)
    client = app.test_client()
    refused = sso_sign_in(client, provider)
    assert refused.status_code == 401
    assert "Inloggningen med regionens konto misslyckades" in refused.get_data(as_text=True)
    assert _counts(session) == (0, 0) and _signed_in_as(client) is None
    assert [r["reason"] for r in _refusals(session)] == [reason]
    attempt = session.scalar(select(LoginAttempt))
    assert attempt is not None and (attempt.success, attempt.method) == (False, "oidc")
    assert client.get("/uppgifter").status_code == 302


def test_a_wrong_or_replayed_state_is_refused(app: Flask, session: Session, provider: OidcProvider) -> None:
    client = app.test_client()
    location = _authorize(client, provider)
    refused = _callback(client, location, state="forged-state")
    assert refused.status_code == 401 and _signed_in_as(client) is None
    # The state of a flow begun in another browser does not work in this one (login CSRF).
    other = app.test_client()
    assert _callback(other, _authorize(app.test_client(), provider)).status_code == 401
    # A finished flow cannot be replayed: its state is used up.
    good = _authorize(client, provider)
    assert _callback(client, good).status_code == 302
    assert _callback(client, good).status_code == 401
    assert [r["reason"] for r in _refusals(session)] == ["state", "state", "state"]
    assert _counts(session) == (1, 1)


def test_a_deactivated_user_is_refused_and_keeps_their_role(
    app: Flask, session: Session, provider: OidcProvider
) -> None:
    assert sso_sign_in(app.test_client(), provider).status_code == 302
    session.commit()
    user = session.scalars(select(User)).one()
    user.active = False
    session.commit()
    provider.user.groups = ["infora-admins"]
    client = app.test_client()
    refused = sso_sign_in(client, provider)
    assert refused.status_code == 403 and "Kontot är avstängt" in refused.get_data(as_text=True)
    session.commit()  # a fresh snapshot: the app wrote in its own transactions
    assert (session.scalars(select(User.system_role)).one(), _signed_in_as(client)) == ("coordinator", None)
    assert [r["reason"] for r in _refusals(session)] == ["deactivated"]


def test_required_groups_keep_others_out(session: Session, db_engine: Engine, provider: OidcProvider) -> None:
    session.commit()
    app = _app(db_engine, provider, INFORA_OIDC_REQUIRED_GROUPS="infora-anvandare, infora-admins")
    try:
        provider.user.groups = ["annat"]
        refused = sso_sign_in(app.test_client(), provider)
        assert refused.status_code == 403 and "har inte behörighet" in refused.get_data(as_text=True)
        assert _counts(session) == (0, 0)
        provider.user.groups = ["infora-anvandare"]
        assert sso_sign_in(app.test_client(), provider).status_code == 302
        session.commit()
        assert session.scalars(select(User.system_role)).one() == "member"
    finally:
        app.extensions["infora.engine"].dispose()


def test_the_provider_saying_no_and_a_provider_that_is_down(
    app: Flask, session: Session, provider: OidcProvider, db_engine: Engine
) -> None:
    client = app.test_client()
    _authorize(client, provider)
    denied = client.get("/sso/callback?error=access_denied&state=x")
    assert denied.status_code == 401
    down = _app(db_engine, provider, INFORA_OIDC_ISSUER="http://127.0.0.1:9")  # nothing listens there
    try:
        response = down.test_client().get("/sso/logga-in")
        assert response.status_code == 502 and "svarar inte" in response.get_data(as_text=True)
    finally:
        down.extensions["infora.engine"].dispose()
    assert [r["reason"] for r in _refusals(session)] == ["provider:access_denied", "provider_unreachable"]
    assert _counts(session) == (0, 0)


def test_local_accounts_still_sign_in_beside_single_sign_on(app: Flask, session: Session) -> None:
    make_actor(session, "lokal")
    assert client_for(app, session, "lokal").get("/uppgifter").status_code == 200


def test_a_half_done_configuration_stops_the_start(session: Session, db_engine: Engine) -> None:
    with pytest.raises(ConfigurationError, match="INFORA_OIDC_CLIENT_SECRET"):
        create_app({"DATABASE_URL": db_engine.url.render_as_string(hide_password=False), "SECRET_KEY": "t",
                    "INFORA_OIDC_ISSUER": "https://idp.example", "INFORA_OIDC_CLIENT_ID": "x"})  # fmt: skip
    with pytest.raises(ValueError, match="infora-admins=superuser"):
        parse_role_map("infora-admins=superuser")
    app = Flask("t")
    app.config.update(INFORA_OIDC_ISSUER="https://idp.example/", INFORA_OIDC_CLIENT_ID="c",
                      INFORA_OIDC_CLIENT_SECRET="s", INFORA_OIDC_GROUPS_CLAIM="realm_access.roles")  # fmt: skip
    settings = settings_from(app)
    assert settings is not None
    assert settings.discovery_url == "https://idp.example/.well-known/openid-configuration"
    assert settings.policy.groups_claim == "realm_access.roles"
