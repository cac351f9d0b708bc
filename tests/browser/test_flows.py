"""The team's work in a real browser: a member finds a task, gets a form error, corrects it and
completes the task, and the next step reaches the right role; a coordinator sees the diagram with
the current task highlighted; the language switch; a task form filled with the keyboard alone.
(No console errors: the autouse guard in conftest fails any test that has one.)"""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect
from sqlalchemy.orm import Session

from engine.services import SYSTEM_ACTOR
from engine.services.users import set_password
from tests.browser import snap
from tests.factories import Team, do, start_vgr, task_row, walk_vgr_to_units

PASSWORD = "ett-langt-losenord"


SIGN_IN_TEXTS = {
    "sv": ("Användarnamn", "Lösenord", "Logga in", "Mina uppgifter"),
    "en": ("Username", "Password", "Sign in", "My tasks"),
}


def sign_in(page: Page, session: Session, username: str, language: str = "sv") -> None:
    """Give the account a password and sign in through the form (in the page's language)."""
    user_label, password_label, button, landing = SIGN_IN_TEXTS[language]
    set_password(session, SYSTEM_ACTOR, username, PASSWORD)
    session.commit()
    page.goto("/logga-in")
    page.get_by_label(user_label).fill(username)
    page.get_by_label(password_label).fill(PASSWORD)
    page.get_by_role("button", name=button).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(landing)


def sign_out(page: Page) -> None:
    page.get_by_role("button", name="Logga ut").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Logga in")


def _case_at_implementation_plan(session: Session) -> tuple[int, Team, int]:
    case_id, team, (unit,) = start_vgr(session, units=1)
    session.commit()
    walk_vgr_to_units(session, team, case_id)
    do(session, team, case_id, "step_06_local_anchoring", unit=unit)
    return case_id, team, unit


def test_a_member_completes_a_task_after_correcting_an_error(page: Page, published: Session) -> None:
    _case_id, team, unit = _case_at_implementation_plan(published)
    staff = team.by_unit[unit]
    sign_in(page, published, staff.username)
    snap(page, "inbox")
    page.get_by_role("link", name="Införandeplan").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Införandeplan")
    snap(page, "task")
    # "No" for "already works per the pathway?" but no activity: the form says what is missing.
    page.get_by_role("group", name=re.compile("Arbetar verksamheten redan")).get_by_label("Nej").check()
    page.get_by_role("button", name="Klar – skicka").click()
    summary = page.get_by_role("alert")
    expect(summary).to_contain_text("Formuläret har fel")
    snap(page, "task-form-error")
    expect(page.get_by_role("group", name=re.compile("Arbetar verksamheten redan")).get_by_label("Nej")).to_be_checked()
    page.get_by_label("Aktivitet", exact=False).first.fill("Gemensam rutin för uppföljningssamtal")
    page.get_by_label("Ansvarig", exact=False).first.fill("Maja Holm")
    page.get_by_role("button", name="Klar – skicka").click()
    expect(page.get_by_role("status")).to_contain_text("Uppgiften är klar")
    expect(page.get_by_role("link", name="Planera")).to_be_visible()  # the PDSA loop starts for the same unit
    snap(page, "inbox-after-completion")
    sign_out(page)
    # The RPT member does not get the unit's Plan step; the unit's staff does (checked above).
    sign_in(page, published, team.by_role["rpt"].username)
    expect(page.get_by_role("link", name="Planera")).to_have_count(0)


def test_a_coordinator_sees_the_current_task_highlighted_in_the_diagram(page: Page, published: Session) -> None:
    case_id, team, _unit = _case_at_implementation_plan(published)
    sign_in(page, published, team.coordinator.username)
    page.goto(f"/arenden/{case_id}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Hjärtsvikt – VGR")
    diagram = page.locator("#diagram")
    expect(diagram).to_have_attribute("data-loaded", "true")
    current = page.locator('#diagram [data-element-id="per_unit"].infora-current')
    expect(current).to_have_count(1)
    expect(page.locator('#diagram [data-element-id="step_05_decision"].infora-completed')).to_have_count(1)
    snap(page, "case")
    page.goto("/oversikt")
    expect(page.get_by_role("link", name="Hjärtsvikt – VGR")).to_be_visible()
    snap(page, "overview")


def test_the_language_switch_changes_the_page_to_english(page: Page, published: Session) -> None:
    _case_id, team, unit = _case_at_implementation_plan(published)
    sign_in(page, published, team.by_unit[unit].username)
    page.get_by_role("button", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("heading", level=1)).to_have_text("My tasks")
    expect(page.get_by_role("link", name=re.compile("Overview"))).to_be_visible()
    snap(page, "inbox-english")
    page.get_by_role("button", name="Svenska").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Mina uppgifter")


def test_a_task_form_can_be_filled_with_the_keyboard_alone(page: Page, published: Session) -> None:
    case_id, team, unit = _case_at_implementation_plan(published)
    task_id = task_row(published, case_id, "step_07_implementation_plan", unit=unit).task_id
    sign_in(page, published, team.by_unit[unit].username)
    page.goto(f"/uppgifter/{task_id}")
    # Tab from the top of the page to the first form control, as a keyboard user would.
    first_radio = page.get_by_role("group", name=re.compile("Arbetar verksamheten redan")).get_by_label("Ja")
    for _ in range(60):
        page.keyboard.press("Tab")
        if first_radio.evaluate("element => element === document.activeElement"):
            break
    expect(first_radio).to_be_focused()
    page.keyboard.press("Space")
    expect(first_radio).to_be_checked()
    focus_ring = first_radio.evaluate("element => getComputedStyle(element).outlineStyle")
    assert focus_ring != "none"  # a visible focus indicator
    for _ in range(30):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent.trim()") == "Klar – skicka":
            break
    snap(page, "task-keyboard")
    page.keyboard.press("Enter")
    expect(page.get_by_role("status")).to_contain_text("Uppgiften är klar")
