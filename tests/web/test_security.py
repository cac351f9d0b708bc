"""Security hardening through the Flask test client: the headers on every kind of response (HSTS only
over TLS, trusting a proxy only when told to), the idle and absolute session limits, and the
lock-out as people meet it (the sign-in page's message, an administrator unlocking)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
import time_machine
from flask import Flask
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from engine.clock import utcnow
from engine.config import ConfigurationError
from engine.persistence import AuditEvent
from tests.factories import make_actor
from tests.web.pages import PASSWORD, client_for, csrf, sign_in
from web import create_app
from web.security import content_security_policy


def _make(db_engine: Engine, **config: object) -> Flask:
    return create_app({"TESTING": True, "DATABASE_URL": db_engine.url.render_as_string(hide_password=False),
                       "SECRET_KEY": "test", **config})  # fmt: skip


@pytest.fixture()
def app(session: Session, db_engine: Engine) -> Iterator[Flask]:
    session.commit()  # end the fixture's write transaction: the app writes to the same database
    app = _make(db_engine)
    yield app
    app.extensions["infora.engine"].dispose()


def test_every_response_carries_the_headers(app: Flask) -> None:
    client = app.test_client()
    for path, status in (("/logga-in", 200), ("/uppgifter", 302), ("/static/css/infora.css", 200),
                         ("/finns-inte", 404), ("/api/v1/openapi.json", 200), ("/health", 200)):  # fmt: skip
        response = client.get(path)
        assert response.status_code == status, path
        headers = response.headers
        assert headers["Content-Security-Policy"] == content_security_policy(), path
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "same-origin"
        assert "camera=()" in headers["Permissions-Policy"]
        assert "Strict-Transport-Security" not in headers  # plain HTTP: HSTS would be ignored or wrong
        response.close()  # a static file's response holds the file open
    csp = content_security_policy()
    assert "script-src 'self';" in csp and "style-src 'self';" in csp and "img-src 'self';" in csp
    assert "unsafe" not in csp and "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
    # The one exception: Swagger UI's icons are data: images, on the API docs page only.
    docs = client.get("/api/v1/docs").headers["Content-Security-Policy"]
    assert docs == csp.replace("img-src 'self';", "img-src 'self' data:;")


def test_an_oversized_request_is_refused_before_a_view_reads_it(app: Flask) -> None:
    client = app.test_client()

    # A raw multipart body (the test client would spool a file field to a temporary file): form
    # fields have their own, smaller limit, files only this one.
    def upload(size: int) -> int:
        body = (b"--b\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.bpmn\"\r\n\r\n"
                + b"x" * size + b"\r\n--b--\r\n")  # fmt: skip
        return client.post("/logga-in", data=body, content_type="multipart/form-data; boundary=b").status_code

    assert upload(17 * 1024 * 1024) == 413
    assert upload(100_000) == 400  # read, then refused for its missing CSRF token


def test_hsts_only_over_tls(app: Flask, db_engine: Engine) -> None:
    assert (
        app.test_client().get("/logga-in", base_url="https://infora.example").headers["Strict-Transport-Security"]
        == "max-age=31536000"
    )
    # Behind a proxy that terminates TLS: its X-Forwarded-Proto counts only when the proxy is trusted.
    forwarded = {"X-Forwarded-Proto": "https"}
    assert "Strict-Transport-Security" not in app.test_client().get("/logga-in", headers=forwarded).headers
    for config in ({"INFORA_TRUSTED_PROXIES": "1"}, {"INFORA_PROXY_FIX": "1"}, {"SESSION_COOKIE_SECURE": True}):
        behind = _make(db_engine, **config)
        try:
            headers = behind.test_client().get("/logga-in", headers=forwarded).headers
            assert headers["Strict-Transport-Security"] == "max-age=31536000", config
        finally:
            behind.extensions["infora.engine"].dispose()
    for config in ({"INFORA_PROXY_FIX": "ja"}, {"INFORA_TRUSTED_PROXIES": "9"}):
        with pytest.raises(ConfigurationError, match=next(iter(config))):
            _make(db_engine, **config)


def test_an_idle_session_ends_on_the_next_request(app: Flask, session: Session) -> None:
    make_actor(session, "eva")
    session.commit()
    with time_machine.travel(utcnow(), tick=False) as traveller:
        client = app.test_client()
        sign_in(client, session, "eva")
        traveller.shift(timedelta(minutes=59))
        assert client.get("/uppgifter").status_code == 200  # activity restarts the idle clock
        traveller.shift(timedelta(minutes=59))
        assert client.get("/uppgifter").status_code == 200
        traveller.shift(timedelta(minutes=61))
        response = client.get("/uppgifter")
        assert response.status_code == 302 and response.headers["Location"].startswith("/logga-in")
        assert "inte har använt Infora på ett tag" in client.get("/logga-in").get_data(as_text=True)
        with client.session_transaction() as s:
            assert "user_id" not in s


def test_a_session_without_its_sign_in_time_ends(app: Flask, session: Session) -> None:
    # A cookie from before the lifetime limit has no sign-in time; its expiry is renewed on every
    # response, so it would never end.
    make_actor(session, "eva")
    client = client_for(app, session, "eva")
    assert client.get("/uppgifter").status_code == 200
    with client.session_transaction() as s:
        del s["signed_in_at"]
    response = client.get("/uppgifter")
    assert response.status_code == 302 and response.headers["Location"].startswith("/logga-in")


def test_a_busy_session_still_ends_after_its_lifetime(app: Flask, session: Session, db_engine: Engine) -> None:
    make_actor(session, "eva")
    session.commit()
    with time_machine.travel(utcnow(), tick=False) as traveller:
        client = app.test_client()
        sign_in(client, session, "eva")
        for _ in range(16):  # every half hour for eight hours
            traveller.shift(timedelta(minutes=30))
            assert client.get("/uppgifter").status_code == 200
        traveller.shift(timedelta(minutes=1))
        assert client.get("/uppgifter").status_code == 302
    relaxed = _make(db_engine, INFORA_SESSION_IDLE_MINUTES="0")  # 0: no idle limit
    try:
        with time_machine.travel(utcnow(), tick=False) as traveller:
            client = relaxed.test_client()
            sign_in(client, session, "eva")
            traveller.shift(timedelta(hours=7))
            assert client.get("/uppgifter").status_code == 200
    finally:
        relaxed.extensions["infora.engine"].dispose()


def test_the_lock_out_as_people_see_it_and_an_admin_unlocks(app: Flask, session: Session, db_engine: Engine) -> None:
    make_actor(session, "eva")
    make_actor(session, "chefen", "admin")
    session.commit()
    strict = _make(db_engine, INFORA_LOCKOUT_ATTEMPTS="2", INFORA_LOCKOUT_MINUTES="30")
    try:
        client = strict.test_client()
        token = csrf(client)
        statuses = []
        for password in ("fel-1", "fel-2", "fel-3"):
            response = client.post("/logga-in", data={"csrf_token": token, "username": "eva", "password": password})
            statuses.append(response.status_code)
        assert statuses == [401, 401, 429]
        page = response.get_data(as_text=True)
        assert "Kontot är låst efter för många misslyckade inloggningar. Försök igen efter" in page
        assert "be en administratör låsa upp det" in page
        admin = strict.test_client()
        sign_in(admin, session, "chefen")
        users = admin.get("/admin/anvandare").get_data(as_text=True)
        assert "Lås upp" in users
        assert 'name="username" value="eva"' in users and 'name="username" value="chefen"' not in users
        fields = {"csrf_token": csrf(admin, "/admin/anvandare"), "username": "eva", "action": "unlock"}
        unlocked = admin.post("/admin/anvandare", data=fields, follow_redirects=True)
        assert "Kontot eva är upplåst." in unlocked.get_data(as_text=True)
        again = client.post("/logga-in", data={"csrf_token": token, "username": "eva", "password": PASSWORD})
        assert again.status_code == 401  # unlocked: the password is checked again (eva has none yet)
        session.commit()
        event = session.scalars(select(AuditEvent).where(AuditEvent.action == "account_unlocked")).one()
        assert event.details == {"username": "eva"}
    finally:
        strict.extensions["infora.engine"].dispose()


def test_bad_limits_stop_the_start(session: Session, db_engine: Engine) -> None:
    session.commit()
    for name, value in (("INFORA_SESSION_IDLE_MINUTES", "en timme"), ("INFORA_LOCKOUT_ATTEMPTS", "0")):
        with pytest.raises(ConfigurationError, match=name):
            _make(db_engine, **{name: value})
