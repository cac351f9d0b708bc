"""A small OpenID Connect provider for the tests, served on 127.0.0.1 by ``tests.live_server.serve``.

It speaks the part of the protocol Infora uses, strictly enough that a client cutting a corner
fails: discovery, ``/authorize`` (auto-approves ``provider.user``; requires PKCE with S256),
``/token`` (client authentication by HTTP Basic or form, single-use codes, the redirect URI and the
PKCE verifier checked; an RS256 ID token signed with joserfc, the JOSE library Authlib itself
uses — ``authlib.jose`` is deprecated), and ``/jwks``. Knobs on the object make it misbehave the way
a forged or stale answer would: another nonce, a signature by an unpublished key, an expired token,
another audience or issuer.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from flask import Flask, jsonify, redirect, request
from flask.typing import ResponseReturnValue
from joserfc import jwt
from joserfc.jwk import RSAKey

KID = "test-key-1"


@dataclass
class ProviderUser:
    """The person the provider signs in (whoever asks)."""

    sub: str = "b6f1c7e2-0000-4000-8000-000000000001"
    preferred_username: str = "Åsa.Öberg@region.example"
    name: str = "Åsa Öberg"
    email: str = "asa.oberg@region.example"
    groups: list[str] = field(default_factory=lambda: ["infora-koordinatorer"])


@dataclass
class OidcProvider:
    """The provider's state and its misbehaviour knobs. ``issuer`` is set once it is served."""

    client_id: str = "infora"
    client_secret: str = "provider-secret-for-tests"
    issuer: str = ""
    user: ProviderUser = field(default_factory=ProviderUser)
    key: RSAKey = field(default_factory=lambda: RSAKey.generate_key(2048, parameters={"kid": KID, "use": "sig"}))
    # Same key id, never published: what a forger would sign with.
    forged_key: RSAKey = field(default_factory=lambda: RSAKey.generate_key(2048, parameters={"kid": KID}))
    nonce_override: str | None = None
    sign_with_forged_key: bool = False
    lifetime_seconds: int = 300
    audience_override: str | None = None
    issuer_claim_override: str | None = None
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    authorize_requests: list[dict[str, str]] = field(default_factory=list)
    token_requests: list[dict[str, str]] = field(default_factory=list)

    def app(self) -> Flask:
        """The provider as a WSGI app."""
        app = Flask("oidc_provider")

        @app.get("/.well-known/openid-configuration")
        def discovery() -> ResponseReturnValue:
            return jsonify(
                issuer=self.issuer,
                authorization_endpoint=f"{self.issuer}/authorize",
                token_endpoint=f"{self.issuer}/token",
                jwks_uri=f"{self.issuer}/jwks",
                response_types_supported=["code"],
                subject_types_supported=["public"],
                id_token_signing_alg_values_supported=["RS256"],
                code_challenge_methods_supported=["S256"],
                token_endpoint_auth_methods_supported=["client_secret_basic", "client_secret_post"],
                scopes_supported=["openid", "profile", "email"],
            )

        @app.get("/jwks")
        def jwks() -> ResponseReturnValue:
            return jsonify(keys=[self.key.as_dict(private=False)])

        @app.get("/authorize")
        def authorize() -> ResponseReturnValue:
            args = request.args.to_dict()
            self.authorize_requests.append(args)
            if args.get("client_id") != self.client_id or args.get("response_type") != "code":
                return jsonify(error="unauthorized_client"), 400
            if "openid" not in args.get("scope", "").split() or not args.get("redirect_uri"):
                return jsonify(error="invalid_request"), 400
            if args.get("code_challenge_method") != "S256" or not args.get("code_challenge"):
                return jsonify(error="invalid_request", error_description="PKCE S256 is required"), 400
            code = secrets.token_urlsafe(24)
            self.codes[code] = {
                "redirect_uri": args["redirect_uri"],
                "nonce": args.get("nonce"),
                "challenge": args["code_challenge"],
            }
            query = {"code": code, "state": args.get("state", "")}
            return redirect(f"{args['redirect_uri']}?{urlencode(query)}")

        @app.post("/token")
        def token() -> ResponseReturnValue:
            form = request.form.to_dict()
            self.token_requests.append(form)
            auth = request.authorization
            client_id = auth.username if auth else form.get("client_id")
            secret = auth.password if auth else form.get("client_secret")
            if client_id != self.client_id or secret != self.client_secret:
                return jsonify(error="invalid_client"), 401
            grant = self.codes.pop(form.get("code", ""), None)  # a code works once
            if form.get("grant_type") != "authorization_code" or grant is None:
                return jsonify(error="invalid_grant"), 400
            if form.get("redirect_uri") != grant["redirect_uri"]:
                return jsonify(error="invalid_grant", error_description="redirect_uri differs"), 400
            verifier = form.get("code_verifier", "")
            digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=")
            if not verifier or digest.decode("ascii") != grant["challenge"]:
                return jsonify(error="invalid_grant", error_description="PKCE verifier does not match"), 400
            return jsonify(
                access_token=secrets.token_urlsafe(24),
                token_type="Bearer",
                expires_in=300,
                scope="openid profile email",
                id_token=self.id_token(grant["nonce"]),
            )

        return app

    def id_token(self, nonce: str | None) -> str:
        """An ID token for ``user``, bent by the knobs."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer_claim_override or self.issuer,
            "sub": self.user.sub,
            "aud": self.audience_override or self.client_id,
            "iat": now,
            "exp": now + self.lifetime_seconds,
            "auth_time": now,
            "preferred_username": self.user.preferred_username,
            "name": self.user.name,
            "email": self.user.email,
            "groups": list(self.user.groups),
        }
        if nonce is not None or self.nonce_override is not None:
            claims["nonce"] = self.nonce_override if self.nonce_override is not None else nonce
        key = self.forged_key if self.sign_with_forged_key else self.key
        return jwt.encode({"alg": "RS256", "kid": KID}, claims, key)
