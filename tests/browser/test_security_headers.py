"""The Content-Security-Policy in real Chromium: every page that runs a browser library — the inbox, a
task page with its PDSA chart, a case page with the bpmn-js diagram, the measure page with Chart.js,
the model editor (bpmn-js modeler), the API docs (Swagger UI) — works under the policy the server
sends, with no violation reported (the page's ``securitypolicyviolation`` events, collected from the
first script on, and the console, which conftest's guard fails on)."""

from __future__ import annotations

from playwright.sync_api import Page, expect
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.persistence import Measure
from tests.browser import snap
from tests.browser.test_flows import _case_at_implementation_plan, sign_in
from tests.factories import make_actor, task_row
from tests.web.test_pdsa_pages import make_ramp
from web.security import content_security_policy

WATCH = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', e => window.__cspViolations.push(
  `${e.violatedDirective} blocked ${e.blockedURI || 'inline'} at ${e.sourceFile}:${e.lineNumber} (${e.sample})`));
"""


def _violations(page: Page) -> list[str]:
    found: list[str] = page.evaluate("window.__cspViolations || []")
    return found


def _visit(page: Page, path: str, ready: str) -> str:
    response = page.goto(path)
    assert response is not None and response.ok, path
    expect(page.locator(ready).first).to_be_visible()
    page.wait_for_load_state("networkidle")
    assert _violations(page) == [], path
    header = response.headers["content-security-policy"]
    assert "script-src 'self';" in header and "unsafe-eval" not in header, path
    return header


def test_the_pages_with_browser_libraries_run_under_the_policy(page: Page, published: Session) -> None:
    page.add_init_script(WATCH)
    case_id, team, unit = _case_at_implementation_plan(published)
    task_id = task_row(published, case_id, "step_07_implementation_plan", unit=unit).task_id
    _ramp_id, _cycle_id = make_ramp(published, case_id, unit)
    measure_id = published.scalar(select(Measure.id).where(Measure.case_id == case_id))
    designer = make_actor(published, "csp.koordinator", "coordinator")
    published.commit()
    sign_in(page, published, team.by_unit[unit].username)
    assert _visit(page, "/uppgifter", "main h1") == content_security_policy()
    assert _visit(page, f"/uppgifter/{task_id}", "form button[value=complete]") == content_security_policy()
    assert _visit(page, f"/matetal/{measure_id}", "canvas.measure-chart") == content_security_policy()
    drawn = page.evaluate("Chart.getChart(document.querySelector('canvas.measure-chart')).data.datasets.length")
    assert drawn > 0
    snap(page, "csp-measure")
    page.get_by_role("button", name="Logga ut").click()
    sign_in(page, published, team.coordinator.username)
    _visit(page, f"/arenden/{case_id}", "#diagram[data-loaded=true]")
    expect(page.locator('#diagram [data-element-id="per_unit"].infora-current')).to_have_count(1)
    snap(page, "csp-case")
    page.get_by_role("button", name="Logga ut").click()
    sign_in(page, published, designer.username)
    _visit(page, "/modeller/vgr_introduction/utkast", "#modeler[data-loaded=true]")
    expect(page.locator("#modeler .djs-palette")).to_be_visible()
    # Editing works, not only drawing: a new task from the palette lands on the canvas.
    shapes = page.locator("#modeler .djs-element.djs-shape").count()
    page.locator("#modeler .djs-palette [data-action='create.task']").click()
    page.locator("#modeler .djs-container svg").first.click(position={"x": 400, "y": 120})
    expect(page.locator("#modeler .djs-element.djs-shape")).to_have_count(shapes + 1)
    assert _violations(page) == []
    snap(page, "csp-model-editor")
    _visit(page, "/api/v1/docs", "#swagger-ui .opblock")
    page.locator("#swagger-ui .opblock-summary").first.click()
    expect(page.locator("#swagger-ui .opblock-body").first).to_be_visible()
    assert _violations(page) == []
    snap(page, "csp-api-docs")
