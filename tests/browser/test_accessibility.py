"""WCAG 2.1 A and AA, checked by axe-core (from npm, as the pages' other browser libraries) on every
page a person uses, in Swedish and English, with and without form errors. Passing axe does not prove
conformance — keyboard use and the error flow are tested separately — but any violation it finds is
a real defect."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from playwright.sync_api import Page
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.persistence import Measure
from tests.browser.test_flows import _case_at_implementation_plan, sign_in
from tests.factories import make_actor, task_row
from tests.web.test_pdsa_pages import make_ramp

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
# axe is loaded from a URL of the site's own origin, answered by the test from node_modules: the
# pages' Content-Security-Policy (script-src 'self') refuses an inline script, as it should.
AXE_URL = "/__tests__/axe.min.js"
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


def violations(page: Page) -> list[str]:
    """axe-core's WCAG 2.1 A/AA violations on the current page, one line each."""
    assert AXE.exists(), f"{AXE} is missing: run `make assets` (npm ci)"
    page.route(f"**{AXE_URL}", lambda route: route.fulfill(path=str(AXE), content_type="text/javascript"))
    page.add_script_tag(url=AXE_URL)
    page.unroute(f"**{AXE_URL}")
    result = page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}}).then(r => r.violations)", TAGS
    )
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — {json.dumps([n['target'] for n in v['nodes']][:5])}" for v in result
    ]


@pytest.mark.parametrize("language", ["sv", "en"])
def test_every_page_has_no_axe_violations(page: Page, published: Session, language: str) -> None:
    case_id, team, unit = _case_at_implementation_plan(published)
    task_id = task_row(published, case_id, "step_07_implementation_plan", unit=unit).task_id
    admin = make_actor(published, "tillganglig.admin", "admin")
    ramp_id, cycle_id = make_ramp(published, case_id, unit)
    measure_id = published.scalar(select(Measure.id).where(Measure.case_id == case_id))  # make_ramp's, with data
    published.commit()
    found: dict[str, list[str]] = {}

    def check(path: str) -> None:
        page.goto(path)
        page.wait_for_load_state("networkidle")
        problems = violations(page)
        if problems:
            found[path] = problems

    page.goto("/logga-in")
    if language == "en":
        page.get_by_role("button", name="English").click()
    for path in ("/", "/logga-in", "/vardforlopp"):
        check(path)
    sign_in(page, published, team.by_unit[unit].username, language)
    for path in ("/uppgifter", f"/uppgifter/{task_id}", "/aviseringar", "/konto", "/oversikt", f"/arenden/{case_id}"):
        check(path)
    for path in ("/larande", f"/arenden/{case_id}/enheter/{unit}", f"/ramper/{ramp_id}", f"/ramper/{ramp_id}/utskrift",
                 f"/cykler/{cycle_id}"):  # fmt: skip
        check(path)
    # The measure pages: the list, the chart page (chart, signals, table, forms), and the CSV
    # import after a file with a bad row (error summary naming the row).
    for path in (f"/arenden/{case_id}/matetal", f"/matetal/{measure_id}"):
        check(path)
    page.goto(f"/matetal/{measure_id}")
    page.locator("#imp-text").fill("period;value\n2026-13-01;1\n")
    page.locator("form[action$='/import'] button[type=submit]").click()
    page.wait_for_load_state("networkidle")
    problems = violations(page)
    if problems:
        found["measure import with errors"] = problems
    # The task form after a submission with errors (error summary, invalid fields).
    page.goto(f"/uppgifter/{task_id}")
    page.locator("button[value=complete]").click()
    page.wait_for_load_state("networkidle")
    problems = violations(page)
    if problems:
        found["task form with errors"] = problems
    page.locator("form[action$='/logga-ut'] button").click()
    sign_in(page, published, admin.username, language)
    for path in ("/admin/anvandare", "/planerat", "/arenden/nytt", f"/arenden/{case_id}"):
        check(path)
    for path in (f"/arenden/{case_id}/matetal", f"/matetal/{measure_id}/installningar"):  # with the coordinator's forms
        check(path)
    for path in ("/modeller", "/modeller/vgr_introduction/utkast", "/modeller/vgr_introduction/utkast/jamfor",
                 "/modeller/vgr_introduction/flytta"):  # fmt: skip
        check(path)
    assert found == {}
