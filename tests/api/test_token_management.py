"""Personal access tokens where people make them: the account page (create with a name and a
validity, the secret shown once, the list, revoke) and the ``infora token`` command; a token made
either way works on the API until it is revoked."""

from __future__ import annotations

import re

from click.testing import CliRunner
from flask import Flask
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from tests.api.conftest import ApiClient, error
from tests.factories import make_actor
from tests.web.pages import csrf, sign_in
from web.cli import main


def test_the_account_page_creates_lists_and_revokes_tokens(published: Session, app: Flask) -> None:
    person = make_actor(published, "konto.person")
    published.commit()
    browser = app.test_client()
    sign_in(browser, published, person.username)
    page = browser.get("/konto").get_data(as_text=True)
    assert "API-nycklar" in page and "Du har inga API-nycklar." in page
    token = csrf(browser, "/konto")
    created = browser.post("/konto/api-nycklar", data={"csrf_token": token, "name": "Rapportskript", "days": "30"})
    assert created.status_code == 200
    html = created.get_data(as_text=True)
    secret = re.search(r'id="new-token" type="text" readonly value="(inf_[^"]+)"', html)
    assert secret is not None and "visas bara nu" in html
    api = ApiClient(app.test_client(), secret.group(1))
    assert api.get("/tasks").status_code == 200
    # Listed without the secret; shown once only.
    listing = browser.get("/konto").get_data(as_text=True)
    assert "Rapportskript" in listing and secret.group(1) not in listing and secret.group(1)[:8] in listing
    # Refusals keep the form and say why.
    empty = browser.post("/konto/api-nycklar", data={"csrf_token": token, "name": "", "days": "30"})
    assert empty.status_code == 422 and 'aria-invalid="true"' in empty.get_data(as_text=True)
    wrong_days = browser.post("/konto/api-nycklar", data={"csrf_token": token, "name": "x", "days": "9999"})
    assert wrong_days.status_code == 422 and "Välj en giltighetstid." in wrong_days.get_data(as_text=True)
    assert browser.post("/konto/api-nycklar", data={"name": "utan csrf", "days": "30"}).status_code == 400
    # Revoke: the token stops working at once.
    token_id = api.get("/tokens").get_json()[0]["id"]
    revoked = browser.post(f"/konto/api-nycklar/{token_id}/aterkalla", data={"csrf_token": token})
    assert revoked.status_code == 302
    error(api.get("/tasks"), 401)
    assert "Återkallad" in browser.get("/konto").get_data(as_text=True)
    # Someone else's token is not found from another account.
    other = make_actor(published, "annan.person")
    published.commit()
    stranger = app.test_client()
    sign_in(stranger, published, other.username)
    assert (
        stranger.post(
            f"/konto/api-nycklar/{token_id}/aterkalla", data={"csrf_token": csrf(stranger, "/konto")}
        ).status_code
        == 404
    )


def test_the_token_command_creates_lists_and_revokes(published: Session, db_engine: Engine, app: Flask) -> None:
    person = make_actor(published, "cli.person")
    published.commit()
    runner = CliRunner()
    url = ["--database-url", db_engine.url.render_as_string(hide_password=False)]
    created = runner.invoke(main, [*url, "token", "create", person.username, "--name", "Nattjobb", "--days", "7"])
    assert created.exit_code == 0, created.output
    secret = created.stdout.strip().splitlines()[0]
    assert secret.startswith("inf_") and "visas inte igen" in created.stderr
    api = ApiClient(app.test_client(), secret)
    assert api.get("/tasks").status_code == 200
    listed = runner.invoke(main, [*url, "token", "list", person.username])
    assert listed.exit_code == 0 and "Nattjobb" in listed.output and "giltig" in listed.output
    assert secret not in listed.output
    token_id = listed.output.split("\t", 1)[0]
    revoked = runner.invoke(main, [*url, "token", "revoke", token_id])
    assert revoked.exit_code == 0 and "återkallad" in revoked.output
    error(api.get("/tasks"), 401)
    assert "återkallad" in runner.invoke(main, [*url, "token", "list", person.username]).output
    # Refusals: an unknown person or token, a validity out of range.
    assert runner.invoke(main, [*url, "token", "create", "finns.inte", "--name", "x"]).exit_code == 2
    assert runner.invoke(main, [*url, "token", "revoke", "999999"]).exit_code == 2
    assert runner.invoke(main, [*url, "token", "create", person.username, "--name", "x", "--days", "0"]).exit_code == 2
