"""Demo data: users for every role and cases standing at different steps of both processes, so
every page has real content on a fresh `make run`. Cases are driven through the real services."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.catalogue.sample_forms import sample_form_data
from engine.clock import utcnow
from engine.persistence import Case, Pathway, PdsaRamp, Region, TaskIndexRow, Unit, User
from engine.services import SYSTEM_ACTOR, Actor, ParticipantSpec, complete_task, send_signal, start_case
from engine.services.measures import create_measure, import_data_points_csv
from engine.services.pdsa import current_cycle, link_data_points
from engine.services.users import create_user
from engine.services.versions import load_version
from engine.workdays import STOCKHOLM

DEMO_PASSWORD = "infora-demo-2026"

# username, display name, system role, case role (None: none by default)
DEMO_USERS: tuple[tuple[str, str, str], ...] = (
    ("admin", "Alva Admin", "admin"),
    ("anna.koordinator", "Anna Lindqvist", "coordinator"),
    ("per.koordinator", "Per Håkansson", "coordinator"),
    ("erik.kunskap", "Erik Johansson", "member"),
    ("sara.samordning", "Sara Nilsson", "member"),
    ("lena.rpt", "Lena Berg", "member"),
    ("omar.rpt", "Omar Haddad", "member"),
    ("karin.inforande", "Karin Ek", "member"),
    ("maja.lerum", "Maja Holm", "member"),
    ("jonas.majorna", "Jonas Strand", "member"),
    ("ida.skene", "Ida Lund", "member"),
    ("maria.lag", "Maria Persson", "member"),
    ("johan.lag", "Johan Andersson", "member"),
    ("fatima.lindeborg", "Fatima Ali", "member"),
    ("nils.kavlinge", "Nils Olsson", "member"),
)


@dataclass
class _Demo:
    session: Session
    users: dict[str, Actor]

    def unit(self, name: str) -> int:
        unit_id = self.session.scalar(select(Unit.id).where(Unit.name == name))
        assert unit_id is not None, name
        return unit_id

    def pathway(self, name: str) -> int:
        pathway_id = self.session.scalar(select(Pathway.id).where(Pathway.name == name))
        assert pathway_id is not None, name
        return pathway_id

    def region(self, code: str) -> int:
        region_id = self.session.scalar(select(Region.id).where(Region.code == code))
        assert region_id is not None, code
        return region_id

    def do(self, case_id: int, bpmn_id: str, overrides: dict[str, Any] | None = None, unit: str | None = None) -> None:
        """Complete the ready task ``bpmn_id`` (of ``unit``) as a participant holding its role."""
        query = select(TaskIndexRow).where(
            TaskIndexRow.case_id == case_id, TaskIndexRow.bpmn_id == bpmn_id, TaskIndexRow.state == "ready"
        )
        if unit is not None:
            query = query.where(TaskIndexRow.unit_id == self.unit(unit))
        row = self.session.scalars(query.order_by(TaskIndexRow.id)).first()
        assert row is not None, (case_id, bpmn_id, unit)
        case = self.session.get(Case, case_id)
        assert case is not None
        version = load_version(self.session, case.model_version_id)
        schema = version.forms[row.form] if row.form else {}
        actor = self._actor_for(case, row)
        complete_task(self.session, actor, row.task_id, sample_form_data(schema, overrides))

    def _actor_for(self, case: Case, row: TaskIndexRow) -> Actor:
        for participant in case.participants:
            if participant.role_code == row.lane and participant.unit_id in (None, row.unit_id):
                return next(a for a in self.users.values() if a.user_id == participant.user_id)
        return self.users["anna.koordinator"]


def load_demo_data(session: Session) -> None:
    """Create demo users and cases (call once, on an empty database with reference data and the
    shipped models published)."""
    users: dict[str, Actor] = {}
    for username, name, role in DEMO_USERS:
        user = session.scalar(select(User).where(User.username == username))
        if user is None:
            user = create_user(
                session,
                SYSTEM_ACTOR,
                username=username,
                display_name=name,
                system_role=role,
                email=f"{username}@example.se",
                password=DEMO_PASSWORD,
            )
        users[username] = Actor(user.id, user.username, user.display_name, user.system_role)
    demo = _Demo(session, users)
    _vgr_cases(demo)
    _skane_cases(demo)
    _kronoberg_case(demo)


def _p(demo: _Demo, username: str, role: str, unit: str | None = None) -> ParticipantSpec:
    return ParticipantSpec(demo.users[username].user_id or 0, role, demo.unit(unit) if unit else None)


def _vgr_team(demo: _Demo, units: list[str]) -> list[ParticipantSpec]:
    team = [
        _p(demo, "erik.kunskap", "kunskapsstyrning"),
        _p(demo, "sara.samordning", "samordningsrad"),
        _p(demo, "lena.rpt", "rpt"),
        _p(demo, "omar.rpt", "rpt"),
        _p(demo, "karin.inforande", "inforandeansvarig"),
    ]
    staff = {
        "Närhälsan Lerum vårdcentral": "maja.lerum",
        "Närhälsan Majorna vårdcentral": "jonas.majorna",
        "Närhälsan Skene vårdcentral": "ida.skene",
    }
    team += [_p(demo, staff[u], "lokal_verksamhet", u) for u in units if u in staff]
    return team


def _start(demo: _Demo, kind: str, pathway: str, units: list[str]) -> int:
    """Start a demo case of the VGR or the Skåne process with its team."""
    process_id, region, coordinator, team, suffix = {
        "vgr": ("vgr_introduction", "vgr", "anna.koordinator", _vgr_team, "VGR"),
        "skane": ("skane_lag", "skane", "per.koordinator", _skane_team, "Region Skåne"),
    }[kind]
    info = start_case(
        demo.session,
        demo.users[coordinator],
        process_id=process_id,
        title=f"{pathway} – {suffix}",
        pathway_id=demo.pathway(pathway),
        region_id=demo.region(region),
        unit_ids=[demo.unit(u) for u in units],
        participants=team(demo, units),
    )
    return info.id


def _vgr_case(demo: _Demo, pathway: str, units: list[str]) -> int:
    return _start(demo, "vgr", pathway, units)


def _vgr_cases(demo: _Demo) -> None:
    lerum, majorna, skene = (
        "Närhälsan Lerum vårdcentral",
        "Närhälsan Majorna vårdcentral",
        "Närhälsan Skene vårdcentral",
    )
    coordinator = demo.users["anna.koordinator"]
    # 1. A proposal just arrived: the consultation response is due.
    _vgr_case(demo, "Hjärtsvikt – nydebuterad (1)", [lerum, majorna])
    # 2. Consultation answered; waiting for national approval.
    case = _vgr_case(demo, "Epilepsi", [lerum])
    demo.do(case, "step_01_consultation")
    # 3. Approved nationally, RPT needed data, now doing the gap analysis.
    case = _vgr_case(demo, "Depression", [lerum, majorna, skene])
    demo.do(case, "step_01_consultation")
    send_signal(demo.session, coordinator, case, "godkand_nationellt")
    demo.do(case, "step_02_preparation")
    demo.do(case, "step_03_rpt_start", {"data_needed": True})
    demo.do(case, "step_03_data")
    # 4. Decided; the units are at different points of their introduction and PDSA loops.
    case = _vgr_case(demo, "Stroke och TIA – fortsatt vård och rehabilitering (2)", [lerum, majorna, skene])
    demo.do(case, "step_01_consultation")
    send_signal(demo.session, coordinator, case, "godkand_nationellt")
    demo.do(case, "step_02_preparation")
    demo.do(case, "step_03_rpt_start", {"data_needed": False})
    demo.do(case, "step_04_gap_analysis")
    demo.do(case, "step_05_decision", {"decision": "approved"})
    for unit in (lerum, majorna, skene):
        demo.do(case, "step_06_local_anchoring", unit=unit)
    demo.do(case, "step_07_implementation_plan", {"already_compliant": False}, unit=lerum)
    demo.do(case, "pdsa_plan", STROKE_PLAN, unit=lerum)
    demo.do(case, "pdsa_do", {"carried_out_as_planned": True, "observations": STROKE_DO}, unit=lerum)
    demo.do(case, "step_07_implementation_plan", {"already_compliant": True}, unit=skene)
    _stroke_measures(demo, case, lerum, majorna)


STROKE_MEASURE = "Andel patienter med uppföljningsbesök inom 3 månader"
STROKE_PLAN: dict[str, Any] = {
    "aim": "Alla patienter med stroke eller TIA får ett uppföljningsbesök inom tre månader.",
    "objective": "Testa att boka uppföljningsbesöket redan vid utskrivningen från sjukhuset.",
    "purpose": "test",
    "change_idea": "Boka uppföljning vid utskrivning",
    "questions": [
        {"question": "Hinner sjuksköterskan boka besöket vid utskrivningssamtalet?",
         "prediction": "Ja, i minst 8 av 10 utskrivningar."},
        {"question": "Ökar andelen uppföljda inom 3 månader?", "prediction": "Från cirka 55 % till över 70 %."},
    ],
    "plan_tasks": [{"who": "Distriktssköterska", "what": "Boka besök vid utskrivningssamtalet",
                    "where": "Närhälsan Lerum vårdcentral", "when": "2026-09-01"}],
    "data_collection": [{"measure": STROKE_MEASURE, "who": "Verksamhetsutvecklare", "when": "Varje månad"}],
}  # fmt: skip
STROKE_DO = "Besöket bokades vid 17 av 21 utskrivningar; helgutskrivningar missades."


def _stroke_measures(demo: _Demo, case_id: int, lerum: str, majorna: str) -> None:
    """A measure with 20 months of data in two units: Lerum's last months, in its running PDSA
    cycle, rise above the baseline (a signal on the chart); Majorna stays put."""
    coordinator = demo.users["anna.koordinator"]
    measure = create_measure(
        demo.session, coordinator, case_id, name=STROKE_MEASURE, kind="process", direction="higher",
        unit_label="%", target=80.0, chart_type="run", rules="ihi", baseline_points=12, aggregation="ratio",
        definition="Andel av patienterna som skrivits ut efter stroke eller TIA som fått ett uppföljningsbesök "
        "inom 3 månader (täljare: med besök; nämnare: utskrivna).",
    )  # fmt: skip
    today = utcnow().astimezone(STOCKHOLM).date()
    months = today.year * 12 + today.month - 1 - 20  # the 20 whole months before this one
    first = date(months // 12, months % 12 + 1, 1)
    lerum_seen = [11, 12, 10, 12, 11, 13, 11, 10, 12, 11, 12, 11, 12, 11, 13, 12, 14, 16, 16, 17]
    majorna_seen = [14, 15, 13, 15, 14, 16, 15, 14, 15, 13, 15, 14, 15, 16, 14, 15, 14, 15, 16, 15]
    rows = ["period;value;numerator;denominator;unit"]
    for k in range(20):
        month = first.month - 1 + k
        period = date(first.year + month // 12, month % 12 + 1, 1).isoformat()
        for unit, seen in ((lerum, lerum_seen), (majorna, majorna_seen)):
            rows.append(f"{period};{round(100 * seen[k] / 21, 1)};{seen[k]};21;{unit}")
    lerum_staff = demo.users["maja.lerum"]
    import_data_points_csv(demo.session, lerum_staff, measure.id, "\n".join(rows) + "\n")
    # The running cycle began (the Plan was done) two months ago in the story: backdate its period
    # so the chart shows it against the history. Everything else went through the real tasks.
    cycle = current_cycle(demo.session, case_id, demo.unit(lerum))
    assert cycle is not None
    ramp = demo.session.get(PdsaRamp, cycle.ramp_id)
    assert ramp is not None
    ramp.started_on = cycle.started_on = today.replace(day=1) - timedelta(days=62)
    cycle.ends_on = today + timedelta(days=30)
    demo.session.flush()
    link_data_points(demo.session, cycle)


def _skane_team(demo: _Demo, units: list[str]) -> list[ParticipantSpec]:
    staff = {"Vårdcentralen Lindeborg": "fatima.lindeborg", "Vårdcentralen Kävlinge": "nils.kavlinge"}
    team = [_p(demo, "maria.lag", "lag"), _p(demo, "johan.lag", "lag")]
    team += [_p(demo, staff[u], "lokal_verksamhet", u) for u in units if u in staff]
    return team


def _skane_case(demo: _Demo, pathway: str, units: list[str]) -> int:
    return _start(demo, "skane", pathway, units)


def _skane_cases(demo: _Demo) -> None:
    lindeborg, kavlinge = "Vårdcentralen Lindeborg", "Vårdcentralen Kävlinge"
    _skane_case(demo, "Svårläkta sår", [lindeborg])
    case = _skane_case(demo, "Palliativ vård", [lindeborg, kavlinge])
    demo.do(case, "lag_appoint")
    case = _skane_case(demo, "Sepsis (1)", [lindeborg, kavlinge])
    demo.do(case, "lag_appoint")
    demo.do(case, "lag_analysis")
    demo.do(case, "lag_action_plan")
    demo.do(case, "unit_introduction", {"already_compliant": False}, unit=lindeborg)
    demo.do(case, "unit_introduction", {"already_compliant": True}, unit=kavlinge)
    demo.do(case, "pdsa_plan", unit=lindeborg)


KRONOBERG_USERS: tuple[tuple[str, str, str, str, str | None], ...] = (
    # username, display name, system role, case role, unit
    ("eva.kronoberg", "Eva Gustafsson", "coordinator", "koordinator", None),
    ("bengt.kunskap", "Bengt Karlsson", "member", "kunskapsstyrning", None),
    ("sofia.processagare", "Sofia Lindberg", "member", "processagare", None),
    ("lars.processledare", "Lars Svensson", "member", "processledare", None),
    ("magnus.medicin", "Magnus Ek", "member", "medicinskt_ansvarig", None),
    ("amir.teleborg", "Amir Hassan", "member", "lokal_verksamhet", "Vårdcentralen Teleborg"),
    ("linnea.ljungby", "Linnéa Berg", "member", "lokal_verksamhet", "Vårdcentralen Ljungby"),
)
KRONOBERG_PLAN: dict[str, Any] = {
    "aim": "Alla patienter med KOL på Vårdcentralen Teleborg har en aktuell egenvårdsplan.",
    "objective": "Testa att sjuksköterskan gör egenvårdsplanen tillsammans med patienten vid årskontrollen.",
    "purpose": "test",
    "change_idea": "Egenvårdsplan vid årskontrollen",
}


def _kronoberg_case(demo: _Demo) -> None:
    """Region Kronoberg's variant, introduced in two primary care centres: decided, mapped and
    staffed; Ljungby already works per the pathway, Teleborg is in its first PDSA cycle (Do)."""
    teleborg, ljungby = "Vårdcentralen Teleborg", "Vårdcentralen Ljungby"
    team: list[ParticipantSpec] = []
    for username, name, system_role, case_role, unit in KRONOBERG_USERS:
        user = demo.session.scalar(select(User).where(User.username == username))
        if user is None:
            user = create_user(demo.session, SYSTEM_ACTOR, username=username, display_name=name,
                               system_role=system_role, email=f"{username}@example.se", password=DEMO_PASSWORD)  # fmt: skip
        demo.users[username] = Actor(user.id, user.username, user.display_name, user.system_role)
        team.append(_p(demo, username, case_role, unit))
    team += [_p(demo, "amir.teleborg", "processteam"), _p(demo, "linnea.ljungby", "processteam")]
    case = start_case(
        demo.session,
        demo.users["eva.kronoberg"],
        process_id="kronoberg_introduction",
        title="KOL (1+2) – Region Kronoberg",
        pathway_id=demo.pathway("KOL (1+2)"),
        region_id=demo.region("kronoberg"),
        unit_ids=[demo.unit(teleborg), demo.unit(ljungby)],
        participants=team,
    ).id
    demo.do(case, "decide_introduction", {"introduce": True, "decided_by": "Hälso- och sjukvårdens ledningsgrupp"})
    demo.do(case, "mapping")
    demo.do(case, "appoint", {"process_owner": "Sofia Lindberg", "process_lead": "Lars Svensson",
                              "medical_lead": "Magnus Ek"})  # fmt: skip
    demo.do(case, "unit_introduction", {"already_compliant": True}, unit=ljungby)
    demo.do(case, "unit_introduction", {"already_compliant": False}, unit=teleborg)
    demo.do(case, "pdsa_plan", KRONOBERG_PLAN, unit=teleborg)
