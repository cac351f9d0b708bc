"""The PDSA pages through the Flask test client: the ramp page (measures with chart data and data
table, every cycle's record), its printable version (no navigation, every cycle), a cycle's record,
the unit page, the PDSA section of the case page, and the learning library (filters, pages,
highlighting that stays text); who may open which (403 for others, 404 for unknown ids)."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone

import pytest
import time_machine
from flask import Flask
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from engine.persistence import Case, DataPoint, Measure, PdsaCycle, PdsaRamp, Unit
from engine.services import fire_case_timers
from engine.services.pdsa import record_step
from tests.factories import Team, do, make_actor, start_skane, start_vgr, task_row, walk_vgr_to_units
from tests.web.pages import client_for
from web import create_app

T0 = datetime(2026, 1, 12, 8, 0, tzinfo=timezone.utc)
MEASURE = "Andel uppringda inom 48 timmar"


@pytest.fixture()
def app(published: Session, db_engine: Engine) -> Iterator[Flask]:
    app = create_app({"TESTING": True, "DATABASE_URL": db_engine.url.render_as_string(hide_password=False),
                      "SECRET_KEY": "test"})  # fmt: skip
    yield app
    app.extensions["infora.engine"].dispose()


def _cycle(
    s: Session, team: Team, case_id: int, unit: int, traveller: time_machine.Coordinates, n: int, decision: str
) -> None:
    """One cycle through the loop's own tasks, with recognisable text in every part of the record."""
    do(s, team, case_id, "pdsa_plan", {
        "aim": "Färre återinläggningar inom 30 dagar",
        "objective": f"Mål för cykel {n}",
        "change_idea": "Telefonuppföljning efter utskrivning",
        "questions": [{"question": f"Fråga {n}", "prediction": f"Prediktion {n}"}],
        "plan_tasks": [{"who": "Sjuksköterska Maja", "what": f"Ringa patienter {n}", "where": "Avdelning 12",
                        "when": "2026-02-02"}],
        "data_collection": [{"measure": MEASURE, "who": "Undersköterska Per", "when": "Varje vecka"}],
    }, unit=unit)  # fmt: skip
    do(s, team, case_id, "pdsa_do", {"carried_out_as_planned": True, "observations": f"Observation {n}"}, unit=unit)
    s.expire_all()
    case = s.get(Case, case_id)
    assert case is not None and case.next_timer_at is not None
    traveller.move_to(case.next_timer_at + timedelta(seconds=1))
    assert fire_case_timers(s, case_id) is True
    s.commit()
    do(s, team, case_id, "pdsa_study", {
        "results": [{"question": f"Fråga {n}", "prediction": f"Prediktion {n}", "result": f"Resultat {n}"}],
        "learnt": f"Lärdom {n}: samtalen <b>hjälper</b>",
    }, unit=unit)  # fmt: skip
    do(s, team, case_id, "pdsa_act", {"act_decision": decision, "next_cycle_plan": f"Nästa plan {n}"}, unit=unit)


@pytest.fixture()
def ramp(published: Session) -> tuple[int, Team, int, int, int]:
    """A VGR unit with a measure (rising data) and a ramp of two cycles (adapt, adopt) through the
    real loop: (case id, team, unit, other unit, ramp id)."""
    s = published
    with time_machine.travel(T0, tick=False) as traveller:
        case_id, team, (unit, other) = start_vgr(s, units=2)
        s.commit()
        walk_vgr_to_units(s, team, case_id)
        measure = Measure(case_id=case_id, name=MEASURE, direction="higher", unit_label="%")
        s.add(measure)
        s.flush()
        values = [40, 42, 41, 39, 40, 41, 42, 40, 39, 41, 55, 58, 57, 60, 59, 61, 62, 60]
        periods = [date(2025, 1 + i, 1) if i < 12 else date(2026, i - 11, 1) for i in range(len(values))]
        s.add_all(
            DataPoint(measure_id=measure.id, unit_id=unit, period=p, value=v)
            for p, v in zip(periods, values, strict=True)
        )
        s.commit()
        do(s, team, case_id, "step_06_local_anchoring", unit=unit)
        do(s, team, case_id, "step_07_implementation_plan", {"already_compliant": False}, unit=unit)
        _cycle(s, team, case_id, unit, traveller, 1, "adapt")
        _cycle(s, team, case_id, unit, traveller, 2, "adopt")
    ramp_id = s.scalar(select(PdsaRamp.id).where(PdsaRamp.case_id == case_id))
    assert ramp_id is not None
    return case_id, team, unit, other, ramp_id


def make_ramp(s: Session, case_id: int, unit: int) -> tuple[int, int]:
    """A unit's ramp written straight through ``record_step`` (no tasks), with a measure whose data
    show a signal: cycle 1 (studied, adapted) and cycle 2 (planned). Returns (ramp id, cycle 1 id).
    For pages that need a full ramp quickly (the accessibility check)."""
    measure = Measure(case_id=case_id, name=MEASURE, direction="higher", unit_label="%")
    s.add(measure)
    s.flush()
    values = [40, 42, 41, 39, 40, 41, 42, 40, 39, 41, 55, 58, 57, 60]
    s.add_all(
        DataPoint(measure_id=measure.id, unit_id=unit, period=date(2025 + (i // 12), 1 + i % 12, 1), value=v)
        for i, v in enumerate(values)
    )
    plan = {
        "aim": "Färre återinläggningar",
        "objective": "Ringa alla inom 48 timmar",
        "purpose": "test",
        "change_idea": "Telefonuppföljning",
        "questions": [{"question": "Hinner vi ringa?", "prediction": "Ja, 80 %"}],
        "plan_tasks": [{"who": "Maja", "what": "Ringa", "where": "Avdelning 12", "when": "2026-02-02"}],
        "data_collection": [{"measure": MEASURE, "who": "Per", "when": "Varje vecka"}],
    }
    first = record_step(s, case_id=case_id, unit_id=unit, stage="plan", data=plan)
    record_step(s, case_id=case_id, unit_id=unit, stage="do", data={"carried_out_as_planned": True,
                                                                    "observations": "Gick bra"})  # fmt: skip
    record_step(s, case_id=case_id, unit_id=unit, stage="study", data={
        "results": [{"question": "Hinner vi ringa?", "prediction": "Ja, 80 %", "result": "Nej, 60 %"}],
        "learnt": "Eftermiddagen fungerar bättre.",
    })  # fmt: skip
    record_step(s, case_id=case_id, unit_id=unit, stage="act",
                data={"act_decision": "adapt", "next_cycle_plan": "Ring på eftermiddagen."})  # fmt: skip
    record_step(s, case_id=case_id, unit_id=unit, stage="plan", data={**plan, "objective": "Ringa på eftermiddagen"})
    s.commit()
    return first.ramp_id, first.id


def _cycle_ids(s: Session, ramp_id: int) -> list[int]:
    return list(s.scalars(select(PdsaCycle.id).where(PdsaCycle.ramp_id == ramp_id).order_by(PdsaCycle.number)))


def test_the_ramp_page_shows_measures_and_every_cycles_record(
    app: Flask, published: Session, ramp: tuple[int, Team, int, int, int]
) -> None:
    _, team, unit, _, ramp_id = ramp
    client = client_for(app, published, team.by_unit[unit].username)
    response = client.get(f"/ramper/{ramp_id}")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Färre återinläggningar inom 30 dagar" in page and "Telefonuppföljning efter utskrivning" in page
    assert "Införd" in page  # the ramp's status after "adopt"
    # The measure: a canvas the chart script draws, its data as JSON, and the data table.
    chart = re.search(r'<script type="application/json" id="(chart-\d+)">(.*?)</script>', page, re.S)
    assert chart is not None and f'data-chart="{chart.group(1)}"' in page
    data = json.loads(html.unescape(chart.group(2)))
    assert data["values"][-1] == 60 and len(data["labels"]) == 18 and [c["number"] for c in data["cycles"]] == [1, 2]
    assert "<caption>Data för " + MEASURE in page and page.count('<th scope="row">2025-') == 12
    assert "js/measure-chart.js" in page and "vendor/chart.js/chart.umd.min.js" in page
    # Every cycle's record: plan, do, study beside the prediction, act.
    for n in (1, 2):
        for text in (f"Mål för cykel {n}", f"Ringa patienter {n}", f"Observation {n}", f"Nästa plan {n}"):
            assert text in page
        assert f"<td>Prediktion {n}</td><td>Resultat {n}</td>" in page
        assert f"Lärdom {n}: samtalen &lt;b&gt;hjälper&lt;/b&gt;" in page  # free text stays text
    assert "Undersköterska Per" in page and "Sjuksköterska Maja" in page
    assert "<dd>Anpassa</dd>" in page and "<dd>Införa</dd>" in page
    assert f'href="/ramper/{ramp_id}/utskrift"' in page and "css/print.css" in page
    for cycle_id in _cycle_ids(published, ramp_id):
        assert f'href="/cykler/{cycle_id}"' in page


def test_the_printable_ramp_has_no_navigation_and_every_cycle(
    app: Flask, published: Session, ramp: tuple[int, Team, int, int, int]
) -> None:
    _, team, unit, _, ramp_id = ramp
    page = client_for(app, published, team.by_unit[unit].username).get(f"/ramper/{ramp_id}/utskrift")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "<nav" not in text and "Huvudmeny" not in text and "Logga ut" not in text and "site-header" not in text
    assert "css/print.css" in text and '<html lang="sv">' in text
    assert text.count('class="cycle-record"') == 2
    assert "Cykel 1: Mål för cykel 1" in text and "Cykel 2: Mål för cykel 2" in text
    assert "<td>Prediktion 2</td><td>Resultat 2</td>" in text
    assert 'class="table data-table"' in text and 'class="measure-chart"' in text


def test_a_cycle_record_page(app: Flask, published: Session, ramp: tuple[int, Team, int, int, int]) -> None:
    case_id, team, unit, _, ramp_id = ramp
    first, second = _cycle_ids(published, ramp_id)
    page = client_for(app, published, team.coordinator.username).get(f"/cykler/{first}").get_data(as_text=True)
    assert "<h1>PDSA-cykel 1 – " in page and "Mål för cykel 1" in page and "Mål för cykel 2" not in page
    assert "<td>Prediktion 1</td><td>Resultat 1</td>" in page and "Lärdom 1" in page
    assert f'href="/cykler/{second}"' in page and f'href="/ramper/{ramp_id}"' in page
    assert f'href="/arenden/{case_id}/enheter/{unit}"' in page


def test_only_participants_and_admins_open_ramps_cycles_and_units(
    app: Flask, published: Session, ramp: tuple[int, Team, int, int, int]
) -> None:
    case_id, team, unit, other, ramp_id = ramp
    cycle_id = _cycle_ids(published, ramp_id)[0]
    admin = make_actor(published, "pdsa.admin", "admin")
    sk_case, _, (sk_unit, _) = start_skane(published, units=2, prefix="skp")
    published.commit()
    pages = [f"/ramper/{ramp_id}", f"/ramper/{ramp_id}/utskrift", f"/cykler/{cycle_id}",
             f"/arenden/{case_id}/enheter/{unit}"]  # fmt: skip
    outsider = client_for(app, published, team.outsider.username)  # type: ignore[union-attr]
    for path in pages:
        assert outsider.get(path).status_code == 403, path
    other_staff = client_for(app, published, team.by_unit[other].username)  # another unit of the same case
    viewer = client_for(app, published, admin.username)
    for path in pages:
        assert other_staff.get(path).status_code == 200, path
        assert viewer.get(path).status_code == 200, path
    for path in ("/ramper/999999", "/ramper/999999/utskrift", "/cykler/999999", f"/arenden/{case_id}/enheter/{sk_unit}",
                 "/arenden/999999/enheter/1"):  # fmt: skip
        assert viewer.get(path).status_code == 404, path
    assert outsider.get(f"/arenden/{sk_case}/enheter/{sk_unit}").status_code == 403
    anonymous = app.test_client()
    for path in [*pages, "/larande"]:
        response = anonymous.get(path)
        assert response.status_code == 302 and response.headers["Location"].startswith("/logga-in?next=")


def test_the_unit_page_and_the_case_pages_pdsa_section(
    app: Flask, published: Session, ramp: tuple[int, Team, int, int, int]
) -> None:
    case_id, team, unit, other, ramp_id = ramp
    first, second = _cycle_ids(published, ramp_id)
    client = client_for(app, published, team.by_unit[unit].username)
    unit_page = client.get(f"/arenden/{case_id}/enheter/{unit}").get_data(as_text=True)
    assert f'href="/ramper/{ramp_id}"' in unit_page and f'href="/cykler/{first}"' in unit_page
    assert "Telefonuppföljning efter utskrivning" in unit_page and "Införd" in unit_page
    # The measure's latest value and its signal in words (rising data, higher is better).
    row = re.search(
        rf'<th scope="row"><a href="/matetal/\d+\?enhet={unit}">{MEASURE}</a></th>(.*?)</tr>', unit_page, re.S
    )
    assert row is not None and "60 %" in row.group(1) and "Förbättring" in row.group(1)
    assert "2026-06-01" in row.group(1)
    # The unit's open step after the adopted ramp: its follow-up task, linked.
    follow_up = task_row(published, case_id, "step_09_follow_up", unit=unit)
    assert f'href="/uppgifter/{follow_up.task_id}">{follow_up.name}</a>' in unit_page

    case_page = client.get(f"/arenden/{case_id}").get_data(as_text=True)
    assert f'href="/arenden/{case_id}/enheter/{unit}"' in case_page
    assert f'href="/arenden/{case_id}/enheter/{other}"' in case_page
    section = case_page[case_page.index('id="pdsa-heading"') : case_page.index('id="deltagare"')]
    assert f'href="/cykler/{first}"' in section and f'href="/cykler/{second}"' in section
    assert "Avslutad" in section and "Anpassa" in section and "Införa" in section
    signals = section[section.index('id="pdsa-signals"') :]
    names = dict(published.execute(select(Unit.id, Unit.name).where(Unit.id.in_([unit, other]))).all())
    expected = sorted(
        [[MEASURE, names[unit], "60 %", "2026-06-01", "Förbättring"], [MEASURE, names[other], "–", "–", "Inga data"]]
    )
    assert _rows(signals[: signals.index("</table>")]) == expected


def _rows(fragment: str) -> list[list[str]]:
    """The text of each body row's cells in an HTML table fragment."""
    body = fragment[fragment.index("<tbody>") :]
    return [
        [" ".join(re.sub(r"<[^>]+>", "", cell).split()) for cell in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row, re.S)]
        for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)
    ]


def test_the_library_filters_pages_and_highlights_safely(
    app: Flask, published: Session, ramp: tuple[int, Team, int, int, int]
) -> None:
    case_id, team, unit, _, ramp_id = ramp
    first, _ = _cycle_ids(published, ramp_id)
    outsider = client_for(app, published, team.outsider.username)  # type: ignore[union-attr]
    page = outsider.get("/larande").get_data(as_text=True)
    assert 'href="/larande" aria-current="page"' in page  # in the main menu
    assert "2 cykler" in page and "Lärdom 1" in page and "Lärdom 2" in page
    # An outsider reads the conclusions but gets no link into the case or the record.
    assert f'href="/arenden/{case_id}"' not in page and f'href="/cykler/{first}"' not in page
    member = client_for(app, published, team.by_unit[unit].username).get("/larande").get_data(as_text=True)
    assert f'href="/arenden/{case_id}"' in member and f'href="/cykler/{first}"' in member

    adopted = outsider.get("/larande?beslut=infora").get_data(as_text=True)
    assert "1 cykel" in adopted and "Lärdom 2" in adopted and "Lärdom 1" not in adopted
    assert '<option value="infora" selected>' in adopted
    assert "1 cykel" in outsider.get("/larande?sok=Lärdom+1").get_data(as_text=True)

    # The search word is marked inside escaped text: "<b>" in the record and in the query stay text.
    found = outsider.get("/larande?sok=HJÄLPER").get_data(as_text=True)
    assert "&lt;b&gt;<mark>hjälper</mark>&lt;/b&gt;" in found
    record_step(published, case_id=case_id, unit_id=None, stage="plan", data={"objective": "x"})
    record_step(published, case_id=case_id, unit_id=None, stage="study",
                data={"learnt": "Vi skrev <script>alert(1)</script> i journalen"})  # fmt: skip
    published.commit()
    attack = outsider.get("/larande?sok=<script>").get_data(as_text=True)
    assert "1 cykel" in attack
    assert "<script>alert(1)" not in attack
    assert "Vi skrev <mark>&lt;script&gt;</mark>alert(1)&lt;/script&gt; i journalen" in attack
    assert 'value="&lt;script&gt;"' in attack  # the query in the search field, escaped

    # Pages: 20 hits a page, the filters kept in the page links.
    for n in range(25):
        record_step(published, case_id=case_id, unit_id=None, stage="plan", data={"objective": f"Extra {n}"})
        record_step(published, case_id=case_id, unit_id=None, stage="act",
                    data={"act_decision": "adapt", "next_cycle_plan": f"Fortsätt {n}"})  # fmt: skip
    published.commit()
    listing = outsider.get("/larande?sok=forts%C3%A4tt&steg=agera").get_data(as_text=True)
    assert "25 cykler" in listing and "Sida 1 av 2" in listing and listing.count("<article") == 20
    next_link = re.search(r'<a href="([^"]+)" rel="next">', listing)
    assert next_link is not None
    second_page = outsider.get(html.unescape(next_link.group(1))).get_data(as_text=True)
    assert "Sida 2 av 2" in second_page and second_page.count("<article") == 5 and "25 cykler" in second_page


def test_an_unfinished_cycle_says_which_steps_are_not_documented(app: Flask, published: Session) -> None:
    case_id, team, (unit,) = start_vgr(published, units=1)
    published.commit()
    ramp_id, first = make_ramp(published, case_id, unit)
    page = client_for(app, published, team.by_unit[unit].username).get(f"/ramper/{ramp_id}").get_data(as_text=True)
    second = page[page.index("Cykel 2: Ringa på eftermiddagen") :]
    assert page.count("Inte dokumenterat ännu.") == second.count("Inte dokumenterat ännu.") == 3  # Do, Study, Act
    assert "<td>Ja, 80 %</td><td>Nej, 60 %</td>" in page and "Testa en förändring" in page
    record = client_for(app, published, team.coordinator.username).get(f"/cykler/{first}").get_data(as_text=True)
    assert "Inte dokumenterat ännu." not in record and "Eftermiddagen fungerar bättre." in record
