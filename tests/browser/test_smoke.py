"""Smoke tests in a real browser: the start page renders in Swedish, the vendored browser libraries
are served and work, and the page can be used from the keyboard."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Page, expect
from sqlalchemy.orm import Session

from tests.browser import snap

MODELS_DIR = Path(__file__).resolve().parents[2] / "bpmn"
VENDOR = "/static/vendor"
# The start page (signed out): a welcome with the overview of the introductions.
START_HEADING = "Infora"
JS_TYPES = {"text/javascript", "application/javascript"}


def test_start_page_is_swedish(page: Page, published: Session) -> None:
    response = page.goto("/")
    assert response is not None and response.status == 200
    expect(page.locator("html")).to_have_attribute("lang", "sv")
    expect(page.get_by_role("heading", level=1)).to_have_text(START_HEADING)
    expect(page.get_by_role("heading", level=2, name="Pågående införanden")).to_be_visible()
    snap(page, "start")


def test_pathway_catalogue_lists_the_national_pathways(page: Page, published: Session) -> None:
    response = page.goto("/vardforlopp")
    assert response is not None and response.status == 200
    expect(page.locator("html")).to_have_attribute("lang", "sv")
    expect(page.get_by_role("heading", level=1)).to_have_text("Nationella vårdförlopp")
    row = page.get_by_role("row", name="Diabetes med hög risk för fotsår")
    expect(row).to_contain_text("Planering pågår")
    snap(page, "catalogue")


def test_skip_link_is_the_first_tab_stop_and_shows_on_focus(page: Page, published: Session) -> None:
    page.goto("/")
    skip = page.get_by_role("link", name="Hoppa till innehållet")
    expect(skip).not_to_be_in_viewport()
    page.keyboard.press("Tab")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()
    snap(page, "start-skip-link-focused")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"#main$"))


def test_vendored_libraries_are_served(page: Page) -> None:
    for path, types in [
        ("bpmn-js/bpmn-viewer.production.min.js", JS_TYPES),
        ("bpmn-js/bpmn-modeler.production.min.js", JS_TYPES),
        ("bpmn-js/assets/bpmn-js.css", {"text/css"}),
        ("bpmn-js/assets/bpmn-font/font/bpmn.woff2", {"font/woff2"}),
        ("chart.js/chart.umd.min.js", JS_TYPES),
        ("chartjs-plugin-annotation/chartjs-plugin-annotation.min.js", JS_TYPES),
    ]:
        response = page.request.get(f"{VENDOR}/{path}")
        assert response.status == 200, path
        assert response.headers["content-type"].split(";")[0] in types, (path, response.headers["content-type"])


def test_bpmn_viewer_renders_a_shipped_model(page: Page) -> None:
    page.goto("/")
    for css in ("diagram-js.css", "bpmn-js.css", "bpmn-font/css/bpmn.css"):
        page.add_style_tag(url=f"{VENDOR}/bpmn-js/assets/{css}")
    page.add_script_tag(url=f"{VENDOR}/bpmn-js/bpmn-viewer.production.min.js")
    xml = (MODELS_DIR / "pdsa_cycle.bpmn").read_text(encoding="utf-8")
    shapes = page.evaluate(
        """async (xml) => {
            const el = document.createElement("div");
            el.style.height = "400px";
            document.querySelector("main").append(el);
            const viewer = new BpmnJS({ container: el });
            await viewer.importXML(xml);
            viewer.get("canvas").zoom("fit-viewport");
            return el.querySelectorAll(".djs-shape").length;
        }""",
        xml,
    )
    assert shapes > 3
    snap(page, "vendor-bpmn-viewer")


def test_chart_js_with_the_annotation_plugin(page: Page) -> None:
    page.goto("/")
    page.add_script_tag(url=f"{VENDOR}/chart.js/chart.umd.min.js")
    page.add_script_tag(url=f"{VENDOR}/chartjs-plugin-annotation/chartjs-plugin-annotation.min.js")
    drawn = page.evaluate(
        """() => {
            const canvas = document.createElement("canvas");
            document.querySelector("main").append(canvas);
            const chart = new Chart(canvas, {
                type: "line",
                data: { labels: ["v1", "v2", "v3"], datasets: [{ label: "Andel", data: [3, 5, 4] }] },
                options: {
                    animation: false,
                    plugins: { annotation: { annotations: { median: { type: "line", yMin: 4, yMax: 4 } } } },
                },
            });
            return Chart.registry.getPlugin("annotation") !== undefined && chart.getDatasetMeta(0).data.length;
        }"""
    )
    assert drawn == 3
    snap(page, "vendor-chart")
