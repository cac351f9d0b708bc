"""Reading pages like a browser in Flask test-client tests: the fields a form would submit, the
CSRF token, signing in."""

from __future__ import annotations

from html.parser import HTMLParser

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from engine.services import SYSTEM_ACTOR
from engine.services.users import set_password

PASSWORD = "ett-langt-losenord"


class _Form(HTMLParser):
    """The name/value pairs the first form with ``action`` (or any form) would submit."""

    def __init__(self, action: str | None) -> None:
        super().__init__()
        self.action = action
        self.inside = False
        self.done = False
        self.fields: list[tuple[str, str]] = []
        self._select: str | None = None
        self._select_value: str | None = None
        self._textarea: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form" and not self.done and (self.action is None or a.get("action") == self.action):
            self.inside = True
        if not self.inside:
            return
        if tag == "input" and a.get("name"):
            kind = a.get("type", "text")
            if kind in ("checkbox", "radio") and "checked" not in a:
                return
            if kind in ("submit", "button"):
                return
            self.fields.append((a["name"], a.get("value", "on" if kind == "checkbox" else "")))
        elif tag == "select" and a.get("name"):
            self._select, self._select_value = a["name"], None
        elif tag == "option" and self._select is not None:
            if "selected" in a or self._select_value is None:
                self._select_value = a.get("value", "")
        elif tag == "textarea" and a.get("name"):
            self._textarea, self._text = a["name"], []

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if not self.inside:
            return
        if tag == "select" and self._select is not None:
            self.fields.append((self._select, self._select_value or ""))
            self._select = None
        elif tag == "textarea" and self._textarea is not None:
            self.fields.append((self._textarea, "".join(self._text)))
            self._textarea = None
        elif tag == "form":
            self.inside, self.done = False, True


def form_fields(html: str, action: str | None = None) -> dict[str, str]:
    """What a browser would submit from the form (last value per name)."""
    parser = _Form(action)
    parser.feed(html)
    return dict(parser.fields)


def csrf(client: FlaskClient, path: str = "/logga-in") -> str:
    """A valid CSRF token for the client's session."""
    return form_fields(client.get(path).get_data(as_text=True)).get("csrf_token", "")


def sign_in(client: FlaskClient, session: Session, username: str) -> None:
    """Give the account a password and sign in through the login form."""
    set_password(session, SYSTEM_ACTOR, username, PASSWORD)
    session.commit()
    response = client.post("/logga-in", data={"username": username, "password": PASSWORD, "csrf_token": csrf(client)})
    assert response.status_code == 302, response.get_data(as_text=True)


def client_for(app: Flask, session: Session, username: str) -> FlaskClient:
    """A test client signed in as ``username`` (see :func:`sign_in`)."""
    client = app.test_client()
    sign_in(client, session, username)
    return client
