"""The measure pages through the Flask test client: who may open and change what (an outsider gets
403, unknown ids 404, a unit's staff may enter and import data points, only the coordinator defines
a measure and edits its settings), a form with errors is shown again with status 200, its errors
and its input, and changes nothing; the CSV export reads back; the chart page says its signals in
words and in the data table."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from datetime import date
from html import unescape

import pytest
from flask import Flask
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from engine.persistence import AuditEvent, DataPoint, Measure, Unit
from engine.services.measures import create_measure, import_data_points_csv
from tests.factories import Team, start_vgr
from tests.web.pages import client_for, csrf, form_fields
from web import create_app


@pytest.fixture()
def app(published: Session, db_engine: Engine) -> Iterator[Flask]:
    app = create_app({"TESTING": True, "DATABASE_URL": db_engine.url.render_as_string(hide_password=False),
                      "SECRET_KEY": "test"})  # fmt: skip
    yield app
    app.extensions["infora.engine"].dispose()


@pytest.fixture()
def vgr(published: Session) -> tuple[int, Team, list[int]]:
    case_id, team, units = start_vgr(published, units=2)
    published.commit()
    return case_id, team, units


def _count(session: Session) -> int:
    session.commit()  # a new transaction: SQLite's read snapshot would not show the app's commits
    return session.scalar(select(func.count()).select_from(DataPoint)) or 0


def _monthly(unit: str, values: list[float]) -> str:
    rows = ["period;value;unit"] + [f"2025-{m:02d}-01;{v};{unit}" for m, v in zip(range(1, 13), values, strict=False)]
    return "\n".join(rows) + "\n"


def _text(html: str) -> str:
    """A page's text without tags, entities decoded, whitespace collapsed."""
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


def test_an_outsider_gets_403_and_unknown_ids_404(
    app: Flask, published: Session, vgr: tuple[int, Team, list[int]]
) -> None:
    case_id, team, (a, _b) = vgr
    measure = create_measure(published, team.coordinator, case_id, name="Andel")
    published.commit()
    outsider = client_for(app, published, team.outsider.username)  # type: ignore[union-attr]
    token = csrf(outsider, "/konto")
    for path in (f"/arenden/{case_id}/matetal", f"/matetal/{measure.id}", f"/matetal/{measure.id}/data.csv",
                 f"/matetal/{measure.id}/installningar"):  # fmt: skip
        assert outsider.get(path).status_code == 403, path
    posts = {
        f"/arenden/{case_id}/matetal": {"name": "Intrång"},
        f"/matetal/{measure.id}/punkter": {"enhet": str(a), "period": "2026-01-01", "value": "1"},
        f"/matetal/{measure.id}/import": {"enhet": str(a), "text": "period;value\n2026-01-01;1\n"},
        f"/matetal/{measure.id}/installningar": {"name": "Intrång"},
    }
    for path, data in posts.items():
        assert outsider.post(path, data={**data, "csrf_token": token}).status_code == 403, path
    assert _count(published) == 0 and published.scalar(select(func.count()).select_from(Measure)) == 1
    assert outsider.get("/matetal/999999").status_code == 404
    assert outsider.get("/arenden/999999/matetal").status_code == 404
    member = client_for(app, published, team.by_unit[a].username)
    assert member.get(f"/matetal/{measure.id}?enhet=999999").status_code == 404  # not a unit of the case
    # Without a session the pages send the person to sign in.
    assert app.test_client().get(f"/matetal/{measure.id}").status_code == 302


def test_a_member_enters_and_imports_points_but_only_the_coordinator_defines_and_configures(
    app: Flask, published: Session, vgr: tuple[int, Team, list[int]]
) -> None:
    case_id, team, (a, _b) = vgr
    member = client_for(app, published, team.by_unit[a].username)
    listing = member.get(f"/arenden/{case_id}/matetal").get_data(as_text=True)
    assert "Ärendet har inga mätetal än" in listing and "Lägg till ett mätetal" not in listing
    token = csrf(member, "/konto")
    assert member.post(f"/arenden/{case_id}/matetal", data={"name": "Andel", "csrf_token": token}).status_code == 403

    coordinator = client_for(app, published, team.coordinator.username)
    page = coordinator.get(f"/arenden/{case_id}/matetal").get_data(as_text=True)
    fields = form_fields(page, f"/arenden/{case_id}/matetal")
    fields.update(name="Andel uppföljda", direction="higher", target="80", chart_type="run", aggregation="ratio")
    created = coordinator.post(f"/arenden/{case_id}/matetal", data=fields)
    assert created.status_code == 302
    measure = published.scalars(select(Measure)).one()
    assert created.headers["Location"] == f"/matetal/{measure.id}"
    assert (measure.target, measure.aggregation) == (80.0, "ratio")

    # The unit's staff enter a point for their unit, and import a file (rows without a unit go to
    # the unit shown).
    page = member.get(f"/matetal/{measure.id}?enhet={a}").get_data(as_text=True)
    point = form_fields(page, f"/matetal/{measure.id}/punkter")
    assert point["enhet"] == str(a)
    point.update(period="2026-01-01", value="61,5", numerator="8", denominator="13", annotation="Första")
    saved = member.post(f"/matetal/{measure.id}/punkter", data=point)
    assert saved.status_code == 302 and saved.headers["Location"] == f"/matetal/{measure.id}?enhet={a}#data"
    imported = member.post(f"/matetal/{measure.id}/import",
                           data={"enhet": str(a), "text": "period;value\n2026-02-01;63\n2026-03-01;64\n",
                                 "csrf_token": point["csrf_token"]})  # fmt: skip
    assert imported.status_code == 302
    published.commit()
    stored = published.scalars(select(DataPoint).order_by(DataPoint.period)).all()
    assert [(p.unit_id, p.period, p.value) for p in stored] == [
        (a, date(2026, 1, 1), 61.5), (a, date(2026, 2, 1), 63.0), (a, date(2026, 3, 1), 64.0),
    ]  # fmt: skip
    shown = _text(member.get(f"/matetal/{measure.id}").get_data(as_text=True))  # opens on the unit with data
    assert "Datapunkter för Andel uppföljda" in shown and "61,5 (8/13)" in shown and "Första" in shown
    # "Ändra" fills the form with every stored field, so saving it unchanged changes nothing.
    edit = member.get(f"/matetal/{measure.id}?enhet={a}&andra=2026-01-01").get_data(as_text=True)
    again = form_fields(edit, f"/matetal/{measure.id}/punkter")
    assert {k: again[k] for k in ("period", "value", "numerator", "denominator", "annotation")} == {
        "period": "2026-01-01", "value": "61,5", "numerator": "8", "denominator": "13", "annotation": "Första",
    }  # fmt: skip
    assert member.post(f"/matetal/{measure.id}/punkter", data=again).status_code == 302
    published.commit()
    assert published.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "data_point_changed")) == 0  # fmt: skip

    # Settings: the coordinator only.
    assert member.get(f"/matetal/{measure.id}/installningar").status_code == 403
    assert member.post(f"/matetal/{measure.id}/installningar",
                       data={"target": "90", "csrf_token": point["csrf_token"]}).status_code == 403  # fmt: skip
    settings = coordinator.get(f"/matetal/{measure.id}/installningar").get_data(as_text=True)
    values = form_fields(settings, f"/matetal/{measure.id}/installningar")
    assert values["target"] == "80" and values["chart_type"] == "run"
    values.update(target="85,5", chart_type="xmr", shift_points="8", recalculations="2026-02-01")
    assert coordinator.post(f"/matetal/{measure.id}/installningar", data=values).status_code == 302
    published.commit()
    published.refresh(measure)
    assert (measure.target, measure.chart_type, measure.shift_points, measure.recalculations) == (
        85.5, "xmr", 8, ["2026-02-01"],
    )  # fmt: skip
    assert "Ändra mätetalets inställningar" not in member.get(f"/matetal/{measure.id}").get_data(as_text=True)


def test_a_bad_csv_shows_each_row_error_keeps_the_text_and_imports_nothing(
    app: Flask, published: Session, vgr: tuple[int, Team, list[int]]
) -> None:
    case_id, team, (a, _b) = vgr
    measure = create_measure(published, team.coordinator, case_id, name="Andel")
    published.commit()
    name = published.get(Unit, a).name  # type: ignore[union-attr]
    import_data_points_csv(published, team.coordinator, measure.id, f"period;value;unit\n2025-12-01;50;{name}\n")
    published.commit()
    member = client_for(app, published, team.by_unit[a].username)
    token = csrf(member, "/konto")
    text = f"period;value;unit\n2026-01-01;61;{name}\n2026-02-30;62;{name}\n2026-03-01;sextio;{name}\n"
    response = member.post(f"/matetal/{measure.id}/import", data={"enhet": str(a), "text": text, "csrf_token": token})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    page = _text(html)
    assert "Inget importerades: 2 rader har fel." in page
    assert "rad 3: Perioden '2026-02-30' är inget datum" in page and "rad 4: Värdet 'sextio' är inget tal." in page
    assert form_fields(html, f"/matetal/{measure.id}/import")["text"] == text  # the entered text is kept
    assert _count(published) == 1
    # The same from a file: Excel's plain "CSV" on Swedish Windows is Windows-1252.
    upload = (f"period;värde;enhet\n2026-01-01;61;{name}\n2026-13-01;1;{name}\n").encode("cp1252")
    response = member.post(f"/matetal/{measure.id}/import", content_type="multipart/form-data",
                           data={"enhet": str(a), "text": "", "csrf_token": token,
                                 "file": (io.BytesIO(upload), "data.csv")})  # fmt: skip
    assert response.status_code == 200 and "rad 3: Perioden '2026-13-01'" in _text(response.get_data(as_text=True))
    assert _count(published) == 1
    good = member.post(f"/matetal/{measure.id}/import", content_type="multipart/form-data",
                       data={"enhet": str(a), "text": "", "csrf_token": token,
                             "file": (io.BytesIO(upload.split(b"\n2026-13")[0]), "data.csv")})  # fmt: skip
    assert good.status_code == 302 and _count(published) == 2
    empty = member.post(f"/matetal/{measure.id}/import", data={"enhet": str(a), "text": " ", "csrf_token": token})
    assert empty.status_code == 200 and "Välj en fil eller klistra in data." in empty.get_data(as_text=True)


def test_a_point_with_errors_is_shown_again_and_nothing_is_saved(
    app: Flask, published: Session, vgr: tuple[int, Team, list[int]]
) -> None:
    case_id, team, (a, _b) = vgr
    measure = create_measure(published, team.coordinator, case_id, name="Andel")
    published.commit()
    member = client_for(app, published, team.by_unit[a].username)
    token = csrf(member, "/konto")
    data = {"enhet": str(a), "period": "2026-02-30", "value": "mycket", "annotation": "Min anteckning",
            "excluded": "1", "csrf_token": token}  # fmt: skip
    response = member.post(f"/matetal/{measure.id}/punkter", data=data)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Datapunkten har fel" in html and 'href="#pt-period"' in html and 'href="#pt-value"' in html
    assert 'id="pt-value" name="value" type="text" value="mycket"' in html and 'aria-invalid="true"' in html
    kept = form_fields(html, f"/matetal/{measure.id}/punkter")
    assert (kept["annotation"], kept.get("excluded")) == ("Min anteckning", "1")
    assert _count(published) == 0
    region = member.post(f"/matetal/{measure.id}/punkter", data={**data, "enhet": "region", "period": "2026-01-01",
                                                                  "value": "1"})  # fmt: skip
    assert region.status_code == 200 and _count(published) == 0


def test_settings_with_errors_are_shown_again_and_change_nothing(
    app: Flask, published: Session, vgr: tuple[int, Team, list[int]]
) -> None:
    case_id, team, _units = vgr
    measure = create_measure(published, team.coordinator, case_id, name="Andel", chart_type="xmr")
    published.commit()
    coordinator = client_for(app, published, team.coordinator.username)
    values = form_fields(coordinator.get(f"/matetal/{measure.id}/installningar").get_data(as_text=True),
                         f"/matetal/{measure.id}/installningar")  # fmt: skip
    values.update(shift_points="5", target="åttio", recalculations="1 mars")
    response = coordinator.post(f"/matetal/{measure.id}/installningar", data=values)
    assert response.status_code == 200
    page = _text(response.get_data(as_text=True))
    assert "Ange ett heltal från 6 till 8" in page and "Målet måste vara ett tal." in page
    assert "Ange datum som ÅÅÅÅ-MM-DD" in page
    assert form_fields(response.get_data(as_text=True), f"/matetal/{measure.id}/installningar")["target"] == "åttio"
    published.commit()
    published.refresh(measure)
    assert (measure.shift_points, measure.target, measure.recalculations) == (None, None, [])
    defined = coordinator.post(
        f"/arenden/{case_id}/matetal", data={"name": "Andel", "csrf_token": values["csrf_token"]}
    )
    assert defined.status_code == 200 and "Ärendet har redan ett mätetal med det namnet." in defined.get_data(
        as_text=True
    )


def test_the_chart_page_says_the_signals_in_words_and_offers_the_region_only_when_it_adds_up(
    app: Flask, published: Session, vgr: tuple[int, Team, list[int]]
) -> None:
    case_id, team, (a, b) = vgr
    measure = create_measure(published, team.coordinator, case_id, name="Väntetid", direction="lower",
                             unit_label="dagar", chart_type="run")  # fmt: skip
    published.commit()
    name_b = published.get(Unit, b).name  # type: ignore[union-attr]
    values = [20, 21, 19, 20, 22, 20, 30, 31, 32, 30, 33, 31]  # six months above the median: worse
    import_data_points_csv(published, team.coordinator, measure.id, _monthly(name_b, values))
    published.commit()
    member = client_for(app, published, team.by_unit[a].username)
    html = member.get(f"/matetal/{measure.id}").get_data(as_text=True)  # the first unit with data: b
    assert f'<option value="{b}" selected>' in html
    page = _text(html)
    assert "Den senaste perioden ingår i en signal: försämring." in page
    assert "Skift: 6 punkter i rad över centrallinjen (2025-07-01 – 2025-12-01) – försämring." in page
    assert re.search(
        r'<canvas class="measure-chart" data-chart="chart-data-\d+" role="img" aria-label="Seriediagram', html
    )
    assert '<script type="application/json" id="chart-data-' in html and "<script>" not in html
    row = re.search(r'<th scope="row">2025-08-01</th>(.*?)</tr>', html, re.S)
    # Twelve points in two runs are also too few runs (IHI table: at least 3 for 12 points).
    assert row is not None and "Skift, För få serier – försämring" in _text(row.group(1))
    assert 'value="region"' not in html
    assert member.get(f"/matetal/{measure.id}?enhet=region").status_code == 422
    published.get(Measure, measure.id).aggregation = "mean"  # type: ignore[union-attr]
    published.commit()
    html = member.get(f"/matetal/{measure.id}?enhet=region").get_data(as_text=True)
    assert '<option value="region" selected>' in html and "regionen, enheterna sammanlagda" in html
    assert f'action="/matetal/{measure.id}/punkter"' not in html  # the region's series is computed
    empty = member.get(f"/matetal/{measure.id}?enhet={a}").get_data(as_text=True)
    assert "Inga datapunkter ännu" in empty and "chart.umd.min.js" not in empty


def test_the_export_is_csv_the_import_reads(app: Flask, published: Session, vgr: tuple[int, Team, list[int]]) -> None:
    case_id, team, (a, b) = vgr
    measure = create_measure(published, team.coordinator, case_id, name="Andel")
    published.commit()
    name_a, name_b = (published.get(Unit, u).name for u in (a, b))  # type: ignore[union-attr]
    import_data_points_csv(
        published, team.coordinator, measure.id, _monthly(name_a, [1.5, 2]) + f"2025-01-01;3;{name_b}\n"
    )
    published.commit()
    member = client_for(app, published, team.by_unit[b].username)
    response = member.get(f"/matetal/{measure.id}/data.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == f'attachment; filename="matetal-{measure.id}.csv"'
    body = response.get_data(as_text=True)
    assert body.startswith("\ufeffperiod;value;unit;") and f"2025-01-01;1,5;{name_a}" in body and name_b in body
    only_b = member.get(f"/matetal/{measure.id}/data.csv?enhet={b}").get_data(as_text=True)
    assert name_b in only_b and name_a not in only_b
    assert member.get(f"/matetal/{measure.id}/data.csv?enhet=arende").get_data(as_text=True).count("\n") == 1
    assert member.get(f"/matetal/{measure.id}/data.csv?enhet=nagot").status_code == 422
