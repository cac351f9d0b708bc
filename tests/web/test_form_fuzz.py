"""Fuzzing a task form's round trip in the web layer: whatever a browser can post for a shipped form
(any text in any field the form renders) is read by ``web.forms.parse_form`` and checked by the
engine's ``validate_form_data``: the data, or a ValidationError with the Swedish messages per field
(tests/engine/test_fuzz.py checks the same for JSON values) — never a crash (a number field with
more digits than Python converts to an int was one: a 500). And text no database stores (a NUL
character) is refused on every page form as on the API, before a view sees it (it was a 500 on
PostgreSQL)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from werkzeug.datastructures import MultiDict

from engine.catalogue.sample_forms import sample_form_data
from engine.errors import ValidationError
from engine.persistence import ApiToken, AuditEvent, Measure
from engine.services.forms import form_validator, validate_form_data
from tests.engine.test_fuzz import FORMS, SWEDISH_RE, fuzz
from tests.factories import start_vgr
from tests.web.pages import csrf, sign_in
from web import create_app
from web.forms import parse_form, render_form

FIELDS = {
    name: sorted(set(re.findall(r'name="(f\.[^"]+)"', str(render_form(schema, sample_form_data(schema, {}), {})))))
    for name, schema in FORMS.items()
}
TEXTS = st.one_of(
    st.text(max_size=40),
    st.tuples(st.sampled_from(["", "-", "+", "0."]), st.integers(1, 20) | st.sampled_from([4300, 4301, 6000])).map(
        lambda t: t[0] + "7" * t[1]
    ),
    st.sampled_from(["", " ", "ja", "nej", "on", "true", "1", "-0", "1,5", "\u22121 500,25", "1e999", "nan", "inf",
                     "9" * 5000, "-" + "1" * 4301, "0." + "1" * 5000, "2026-02-30", "2026-01-31", "https://x.se",
                     "\x00", "<script>", "approved"]),
)  # fmt: skip


@st.composite
def posts(draw: st.DrawFn) -> tuple[str, MultiDict[str, str]]:
    """A shipped form and what a browser could post for it: some of its fields, any text in each."""
    name = draw(st.sampled_from(sorted(FORMS)))
    fields = draw(st.lists(st.sampled_from(FIELDS[name]), max_size=12)) if FIELDS[name] else []
    return name, MultiDict([(field, draw(TEXTS)) for field in fields])


@fuzz(300)
@given(posts())
def test_any_post_of_a_shipped_form_is_read_and_answered_in_swedish(post: tuple[str, Any]) -> None:
    name, submitted = post
    data = parse_form(FORMS[name], submitted)
    try:
        validate_form_data(form_validator(FORMS[name]), data)
    except ValidationError as err:
        assert err.field_errors, name
        for messages in err.field_errors.values():
            for message in messages:
                assert any(p.fullmatch(message) for p in SWEDISH_RE), (name, message)


def test_a_number_with_more_digits_than_python_converts_is_refused_not_a_crash() -> None:
    schema = FORMS["vgr_follow_up.schema.json"]
    data = parse_form(schema, MultiDict({"f.results.0.measure": "Andel", "f.results.0.value": "9" * 5000}))
    assert data["results"][0]["value"] == "9" * 5000  # kept as the text it is, for the message
    try:
        validate_form_data(form_validator(schema), data)
    except ValidationError as err:
        assert err.field_errors["results/0/value"] == ["Värdet ska vara ett tal."]
    else:
        raise AssertionError("a text in a number field was accepted")


@pytest.fixture()
def app(published: Session, db_engine: Engine) -> Iterator[Flask]:
    app = create_app({"TESTING": True, "DATABASE_URL": db_engine.url.render_as_string(hide_password=False),
                      "SECRET_KEY": "test"})  # fmt: skip
    yield app
    app.extensions["infora.engine"].dispose()


def test_a_nul_character_is_refused_on_page_forms_and_nothing_is_stored(app: Flask, published: Session) -> None:
    case_id, team, _units = start_vgr(published, units=1)
    published.commit()
    client = app.test_client()
    sign_in(client, published, team.coordinator.username)
    token = csrf(client)
    measure = {"kind": "process", "direction": "higher", "frequency": "month", "level": "local", "chart_type": "run",
               "rules": "ihi", "aggregation": "none"}  # fmt: skip
    posts = [
        (f"/arenden/{case_id}/kommentar", {"text": "Före\x00efter"}),
        (f"/arenden/{case_id}/matetal", {**measure, "name": "Andel\x00"}),
        ("/konto/api-nycklar", {"name": "\x00", "days": "30"}),
    ]

    def stored() -> tuple[int, ...]:
        published.rollback()
        counts = tuple(
            published.scalar(select(func.count()).select_from(t)) or 0 for t in (AuditEvent, Measure, ApiToken)
        )
        published.rollback()
        return counts

    for path, fields in posts:
        before = stored()
        response = client.post(path, data={**fields, "csrf_token": token})
        assert response.status_code == 422, (path, response.status_code)
        assert "inte kan sparas" in response.get_data(as_text=True), path
        assert stored() == before, path
        clean = {k: v.replace("\x00", "") or "Namn" for k, v in fields.items()}
        assert client.post(path, data={**clean, "csrf_token": token}).status_code in (200, 302), path
        assert stored() != before, path  # the same post without the NUL is stored: the refusal was about it
