"""The measure page in real Chromium: Chart.js draws the chart with the unit's PDSA cycles as labelled
boxes on the time axis and the points of a signal in their own colour and shape, the data table
names the signal in words; a CSV import with one bad row shows that row's error and imports nothing.
(No console errors: the autouse guard in conftest fails any test that has one.)"""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any

import time_machine
from playwright.sync_api import Page, expect
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.persistence import DataPoint, Unit
from engine.services.measures import create_measure, import_data_points_csv, save_data_point
from engine.services.pdsa import record_step
from tests.browser import snap
from tests.browser.test_flows import sign_in
from tests.factories import Team, start_vgr

PLAN = {"objective": "Boka uppföljning vid utskrivning.", "change_idea": "Boka vid utskrivning",
        "questions": [{"question": "Hinner vi boka?", "prediction": "Ja, 8 av 10."}]}  # fmt: skip
# 16 months from 2025-01: a stable baseline, then six months well above it (a shift upwards: an
# improvement when higher is better). The values zig-zag, so there is no trend as well.
VALUES = [50, 51, 49, 50, 52, 48, 50, 51, 49, 50, 70, 72, 71, 73, 70, 72]


def _measure_with_cycles(session: Session) -> tuple[int, Team, int, str]:
    case_id, team, (unit,) = start_vgr(session, units=1)
    session.commit()
    # Cycle 1 planned 2025-09-01 and ended with Act "adapt"; cycle 2 planned 2025-12-10: the
    # service's own periods (three months from the Plan), with the clock set to those days.
    with time_machine.travel(datetime(2025, 9, 1, 8, tzinfo=timezone.utc), tick=False) as traveller:
        for stage, data in (("plan", PLAN), ("do", {}), ("study", {}), ("act", {"act_decision": "adapt"})):
            record_step(session, case_id=case_id, unit_id=unit, stage=stage, data=data)
        traveller.move_to(datetime(2025, 12, 10, 8, tzinfo=timezone.utc))
        record_step(session, case_id=case_id, unit_id=unit, stage="plan", data=PLAN)
    measure = create_measure(session, team.coordinator, case_id, name="Andel uppföljda", direction="higher",
                             unit_label="%", target=75.0, chart_type="run")  # fmt: skip
    name = session.get(Unit, unit).name  # type: ignore[union-attr]
    rows = ["period;value;unit"]
    for k, value in enumerate(VALUES):
        rows.append(f"{date(2025 + k // 12, k % 12 + 1, 1).isoformat()};{value};{name}")
    import_data_points_csv(session, team.by_unit[unit], measure.id, "\n".join(rows) + "\n")
    save_data_point(session, team.by_unit[unit], measure.id, unit_id=unit, period="2025-03-01", value=49,
                    excluded=True, annotation="Mätfel i journalsystemet")  # fmt: skip
    save_data_point(session, team.by_unit[unit], measure.id, unit_id=unit, period="2025-06-01", value=48,
                    astronomical=True, annotation="Stängd avdelning")  # fmt: skip
    session.commit()
    return measure.id, team, unit, name


def _chart(page: Page) -> dict[str, Any]:
    """What Chart.js and the annotation plugin drew: the cycle boxes with their labels and pixel
    extent, and each value point's resolved shape and colours."""
    result: dict[str, Any] = page.evaluate(
        """() => {
          const canvas = document.querySelector('canvas.measure-chart');
          const chart = Chart.getChart(canvas);
          const plugin = window['chartjs-plugin-annotation'];
          const boxes = plugin.getAnnotations(chart)
            .filter(a => a.options.label && String(a.options.label.content).startsWith('PDSA'))
            .map(a => ({label: a.options.label.content, x: a.x, x2: a.x2, display: a.options.display}));
          const points = chart.getDatasetMeta(0).data.map(p => ({
            style: p.options.pointStyle, fill: p.options.backgroundColor, border: p.options.borderColor,
            radius: p.options.radius}));
          const marked = chart.data.datasets.find(d => d.pointStyle === 'star');
          return {boxes, points, area: chart.chartArea, labels: chart.data.labels,
                  astronomical: marked ? marked.data : null,
                  target: chart.options.plugins.annotation.annotations.target.value,
                  role: canvas.getAttribute('role'), name: canvas.getAttribute('aria-label')};
        }"""
    )
    return result


def test_the_chart_shows_the_cycles_and_a_highlighted_signal(page: Page, published: Session) -> None:
    measure_id, team, unit, _name = _measure_with_cycles(published)
    sign_in(page, published, team.by_unit[unit].username)
    page.goto(f"/matetal/{measure_id}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Andel uppföljda")
    expect(page.locator("canvas.measure-chart[data-loaded=true]")).to_have_count(1)
    chart = _chart(page)
    snap(page, "measure-chart")
    assert chart["role"] == "img" and "Seriediagram för Andel uppföljda" in chart["name"]
    assert chart["labels"][0] == "2025-01-01" and chart["target"] == 75

    # The unit's two PDSA cycles are labelled boxes over their months on the time axis, in order.
    boxes = sorted(chart["boxes"], key=lambda b: b["x"])
    assert [b["label"] for b in boxes] == ["PDSA 1", "PDSA 2"] and all(b["display"] for b in boxes)
    left, right = chart["area"]["left"], chart["area"]["right"]
    assert all(left <= b["x"] < b["x2"] <= right for b in boxes)
    assert boxes[0]["x"] < boxes[1]["x"]

    # The shift's points (2025-11 on) are blue triangles; a point without a signal is a small grey
    # circle; the excluded point is hollow.
    points = chart["points"]
    shift = points[10]
    assert (shift["style"], shift["border"], shift["fill"]) == ("triangle", "#005eb8", "#005eb8")
    plain = points[0]
    assert (plain["style"], plain["fill"]) == ("circle", "#6b6b6b") and plain["radius"] < shift["radius"]
    assert points[2]["fill"] == "#ffffff" and points[2]["border"] == "#6b6b6b"
    assert all(p["style"] == "triangle" for p in points[10:])
    # A person's astronomical mark: a star over the point, on top of its own marker.
    assert chart["astronomical"] == [None] * 5 + [48] + [None] * 10

    # The same in words: the summary and the table row of a signal point.
    expect(page.get_by_text("Den senaste perioden ingår i en signal: förbättring.")).to_be_visible()
    expect(page.locator(".measure-signals")).to_contain_text("Skift: 6 punkter i rad över centrallinjen")
    row = page.get_by_role("row", name="2025-11-01")
    expect(row).to_contain_text("Skift – förbättring")
    expect(row).to_contain_text("PDSA 1")
    expect(page.get_by_role("row", name="2025-03-01")).to_contain_text("Utesluten ur beräkningen.")
    expect(page.get_by_role("row", name="2025-06-01")).to_contain_text("Astronomisk punkt. Stängd avdelning")


def test_a_csv_import_with_one_bad_row_shows_the_row_error_and_imports_nothing(page: Page, published: Session) -> None:
    measure_id, team, unit, name = _measure_with_cycles(published)
    before = published.scalar(select(func.count()).select_from(DataPoint))
    sign_in(page, published, team.by_unit[unit].username)
    page.goto(f"/matetal/{measure_id}")
    text = f"period;value;unit\n2026-05-01;74;{name}\n2026-06-31;75;{name}\n2026-07-01;76;{name}\n"
    page.get_by_label("… eller klistra in raderna här").fill(text)
    page.get_by_role("button", name="Importera", exact=True).click()
    alert = page.locator("#imp-summary")
    expect(alert).to_be_visible()
    expect(alert).to_have_attribute("role", "alert")
    expect(alert).to_contain_text("Inget importerades: 1 rad har fel.")
    expect(alert).to_contain_text("rad 3: Perioden '2026-06-31' är inget datum (ÅÅÅÅ-MM-DD).")
    snap(page, "measure-import-error")
    expect(page.get_by_label("… eller klistra in raderna här")).to_have_value(text)
    published.commit()  # a new transaction, to see what the server committed
    assert published.scalar(select(func.count()).select_from(DataPoint)) == before
    # The summary's link takes the keyboard to the text to correct; then the import goes through.
    alert.get_by_role("link").first.click()
    expect(page.get_by_label("… eller klistra in raderna här")).to_be_focused()
    page.get_by_label("… eller klistra in raderna här").fill(text.replace("2026-06-31", "2026-06-01"))
    page.get_by_role("button", name="Importera", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("Importen är klar: 3 nya och 0 ändrade datapunkter.")
    published.commit()
    assert published.scalar(select(func.count()).select_from(DataPoint)) == before + 3  # type: ignore[operator]
