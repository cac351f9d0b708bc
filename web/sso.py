"""Single sign-on with the region's OpenID Connect provider (Authlib's Flask client).

The authorization code flow with PKCE (S256): ``/sso/logga-in`` sends the browser to the provider
with a fresh ``state`` and ``nonce`` kept in the signed session cookie; ``/sso/callback`` checks the
state, exchanges the code (with the PKCE verifier) at the token endpoint, verifies the ID token's
signature against the provider's published keys (JWKS, fetched again when an unknown key id
appears: key rotation), its issuer (the configured one), audience (our client id), expiry and
nonce, and only then hands the claims to ``engine.services.sso``. Every refusal is recorded and
shown as a plain message on the sign-in page; nothing else is stored.

Configuration (environment, or the same keys in the app config for tests):

``INFORA_OIDC_ISSUER``          the provider's issuer URL (single sign-on is off without it)
``INFORA_OIDC_DISCOVERY_URL``   default ``{issuer}/.well-known/openid-configuration``
``INFORA_OIDC_CLIENT_ID``, ``INFORA_OIDC_CLIENT_SECRET``   Infora's client at the provider
``INFORA_OIDC_SCOPES``          default ``openid profile email``
``INFORA_OIDC_GROUPS_CLAIM``    default ``groups`` (a dotted path reaches nested claims)
``INFORA_OIDC_ROLE_MAP``        ``group=admin,group=coordinator``; others are members
``INFORA_OIDC_REQUIRED_GROUPS`` when set, only members of these groups may sign in

The redirect URI to register at the provider is ``{INFORA_BASE_URL}/sso/callback``.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

import requests
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.base_client import MismatchingStateError, OAuthError
from authlib.integrations.flask_client import OAuth
from flask import Blueprint, Flask, abort, current_app, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from joserfc.errors import ExpiredTokenError, JoseError

from engine.errors import ValidationError
from engine.services.sso import RolePolicy, SsoRefusedError, claims_from_token, parse_role_map, record_refusal
from engine.services.sso import sign_in_with_sso as provision
from web.auth import safe_next, start_session
from web.db import get_session

log = logging.getLogger("infora.sso")
bp = Blueprint("sso", __name__)
CLIENT = "region"
# Clock skew allowed on the ID token's exp/iat: small, so an expired token is refused promptly.
LEEWAY_SECONDS = 60
HTTP_TIMEOUT_SECONDS = 10


@dataclass(frozen=True)
class OidcSettings:
    """Where the provider is and who Infora is there."""

    issuer: str
    discovery_url: str
    client_id: str
    client_secret: str
    scopes: str
    policy: RolePolicy


def settings_from(app: Flask) -> OidcSettings | None:
    """The single sign-on settings, or None when no issuer is configured. A half-done configuration
    stops the start with a message naming what is missing."""

    def get(name: str, default: str = "") -> str:
        value = app.config.get(name)
        if value is None:
            value = os.environ.get(name, default)
        return str(value).strip()

    issuer = get("INFORA_OIDC_ISSUER").rstrip("/")
    if not issuer:
        return None
    client_id, secret = get("INFORA_OIDC_CLIENT_ID"), get("INFORA_OIDC_CLIENT_SECRET")
    missing = [name for name, value in (("INFORA_OIDC_CLIENT_ID", client_id),
                                        ("INFORA_OIDC_CLIENT_SECRET", secret)) if not value]  # fmt: skip
    if missing:
        raise RuntimeError(f"INFORA_OIDC_ISSUER is set but {', '.join(missing)} is missing")
    required = frozenset(g.strip() for g in get("INFORA_OIDC_REQUIRED_GROUPS").split(",") if g.strip())
    policy = RolePolicy(
        groups_claim=get("INFORA_OIDC_GROUPS_CLAIM", "groups") or "groups",
        role_map=parse_role_map(get("INFORA_OIDC_ROLE_MAP")),
        required_groups=required,
    )
    return OidcSettings(
        issuer=issuer,
        discovery_url=get("INFORA_OIDC_DISCOVERY_URL") or f"{issuer}/.well-known/openid-configuration",
        client_id=client_id,
        client_secret=secret,
        scopes=get("INFORA_OIDC_SCOPES", "openid profile email") or "openid profile email",
        policy=policy,
    )


def _settings() -> OidcSettings:
    found: OidcSettings | None = current_app.extensions.get("infora.oidc")
    if found is None:
        abort(404)
    return found


def _client() -> Any:
    return current_app.extensions["authlib.integrations.flask_client"].create_client(CLIENT)


def _refuse(reason: str, message: str, status: int, *, username: str = "") -> ResponseReturnValue:
    db = get_session(write=True)
    record_refusal(db, reason, username=username, ip=request.remote_addr or "")
    db.commit()
    log.warning("single sign-on refused: %s", reason, extra={"fields": {"reason": reason, "username": username}})
    return render_template("auth/login.html", error=message, username=""), status


@bp.get("/sso/logga-in")
def login() -> ResponseReturnValue:
    settings = _settings()
    client = _client()
    try:
        metadata = client.load_server_metadata()
    except (requests.RequestException, ValueError) as err:
        log.error("the OpenID provider's discovery document could not be read: %s", err)
        return _refuse(
            "provider_unreachable", _("Regionens inloggningstjänst svarar inte. Försök igen om en stund."), 502
        )
    if metadata.get("issuer", "").rstrip("/") != settings.issuer:
        # OpenID Connect Discovery: the document must name the issuer we were configured with.
        log.error("the discovery document names issuer %r, not %r", metadata.get("issuer"), settings.issuer)
        return _refuse(
            "issuer_mismatch", _("Inloggningen med regionens konto är felinställd. Kontakta en administratör."), 502
        )
    session["sso_next"] = safe_next(request.args.get("next"))
    redirect_uri = current_app.config["BASE_URL"].rstrip("/") + url_for("sso.callback")
    response: ResponseReturnValue = client.authorize_redirect(redirect_uri)
    return response


@bp.get("/sso/callback")
def callback() -> ResponseReturnValue:
    settings = _settings()
    client = _client()
    failed = _("Inloggningen med regionens konto misslyckades. Försök igen.")
    claims_options = {
        "iss": {"essential": True, "value": settings.issuer},
        "aud": {"essential": True, "value": settings.client_id},
    }
    try:
        token = client.authorize_access_token(claims_options=claims_options, leeway=LEEWAY_SECONDS)
    except MismatchingStateError:
        return _refuse("state", failed, 401)
    except OAuthError as err:  # the provider said no (access_denied, invalid_grant, ...)
        return _refuse(f"provider:{err.error}"[:60], failed, 401)
    except ExpiredTokenError:
        return _refuse("expired", failed, 401)
    except JoseError as err:  # bad signature, unknown key, wrong nonce, issuer or audience, ...
        return _refuse(f"id_token:{type(err).__name__}", failed, 401)
    except AuthlibBaseError as err:
        return _refuse(f"oauth:{type(err).__name__}", failed, 401)
    except requests.RequestException as err:
        log.error("the OpenID provider could not be reached: %s", err)
        return _refuse(
            "provider_unreachable", _("Regionens inloggningstjänst svarar inte. Försök igen om en stund."), 502
        )
    userinfo = token.get("userinfo")
    if not userinfo:
        return _refuse("no_id_token", failed, 401)
    try:
        claims = claims_from_token(dict(userinfo), settings.policy)
    except ValidationError:
        return _refuse("invalid_claims", failed, 401)
    db = get_session(write=True)
    try:
        actor = provision(db, claims, settings.policy, request.remote_addr or "")
    except SsoRefusedError as err:
        db.commit()  # the refusal is recorded
        log.warning("single sign-on refused: %s", err.reason, extra={"fields": {"reason": err.reason}})
        message = (
            _("Kontot är avstängt. Kontakta en administratör.")
            if err.reason == "deactivated"
            else _("Ditt konto har inte behörighet till Infora. Kontakta en administratör.")
        )
        return render_template("auth/login.html", error=message, username=""), 403
    target = safe_next(session.get("sso_next"))
    start_session(actor.user_id, method="oidc")
    return redirect(target)


def _login_links() -> dict[str, Any]:
    return {"sso_enabled": "infora.oidc" in current_app.extensions}


def init_app(app: Flask) -> None:
    """Register the blueprint; when a provider is configured, its Authlib client too."""
    app.register_blueprint(bp)
    app.context_processor(_login_links)
    settings = settings_from(app)
    if settings is None:
        return
    app.extensions["infora.oidc"] = settings
    oauth = OAuth(app)
    oauth.register(
        CLIENT,
        client_id=settings.client_id,
        client_secret=settings.client_secret,
        server_metadata_url=settings.discovery_url,
        client_kwargs={
            "scope": settings.scopes,
            "code_challenge_method": "S256",
            "default_timeout": HTTP_TIMEOUT_SECONDS,
        },
    )
