"""The learning library: the Study and Act conclusions of every PDSA cycle, searchable across all
cases by pathway, region, PDSA step, Act decision and free text, so one unit's teams learn from
what another unit tried.

Every signed-in person may search every case's conclusions, also of cases they take no part in: the
records hold improvement work (what a unit tested, predicted, saw and decided), not patient data,
and spreading that learning is the point of the loops. The full cycle record and the case itself
stay with the case's participants; a hit only says whether the searcher may open them.

The free text is matched against ``PdsaCycle.search_text`` (the conclusions, already case-folded
when the record was written) with the query case-folded the same way; every word must occur. LIKE
wildcards in the query are escaped, so a search for ``50%`` finds "50%" and not "50 patients", on
SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import Session

from engine.persistence import Case, CaseParticipant, Pathway, PdsaCycle, Region, Unit
from engine.persistence.pdsa import ACT_DECISIONS
from engine.services.actors import Actor

STEPS = ("study", "act")
"""The PDSA steps the library filters on: Study done, or an Act decision taken."""
PER_PAGE = 20
MAX_TERMS = 10
MAX_TERM_LENGTH = 100


@dataclass(frozen=True)
class LearningHit:
    """One cycle's conclusions as the library lists them."""

    cycle_id: int
    ramp_id: int
    case_id: int
    case_title: str
    may_open: bool
    """Whether the searcher takes part in the case (or is an admin): the case page and the cycle
    record are theirs to open."""
    pathway: str | None
    region: str | None
    unit: str | None
    number: int
    stage: str
    objective: str
    change_idea: str
    started_on: date
    ends_on: date
    completed_at: datetime | None
    results: list[dict[str, Any]]
    learnt: str
    act_decision: str | None
    next_cycle_plan: str
    scale_up: bool


@dataclass(frozen=True)
class LearningPage:
    """A page of hits, newest cycle first, with the total number of hits and the search words."""

    hits: list[LearningHit]
    total: int
    page: int
    per_page: int
    terms: list[str] = field(default_factory=list)

    @property
    def pages(self) -> int:
        """How many pages the hits fill (at least one)."""
        return max(1, -(-self.total // self.per_page))


def search_terms(text: str) -> list[str]:
    """The search words of a query, case-folded as ``search_text`` is, without repeats (at most
    :data:`MAX_TERMS`, each at most :data:`MAX_TERM_LENGTH` characters)."""
    terms: list[str] = []
    for word in text.casefold().split():
        word = word[:MAX_TERM_LENGTH]
        if word not in terms:
            terms.append(word)
    return terms[:MAX_TERMS]


def study_done() -> ColumnElement[bool]:
    """Cycles whose Study step is done: waiting for the Act, or finished with what was learnt (a
    cycle ended by a restart before its Study has nothing learnt; the Study form requires it)."""
    return or_(PdsaCycle.stage == "act", and_(PdsaCycle.stage == "done", PdsaCycle.learnt != ""))


def search_learning(
    session: Session,
    actor: Actor,
    *,
    text: str = "",
    pathway_id: int | None = None,
    region_id: int | None = None,
    step: str | None = None,
    decision: str | None = None,
    page: int = 1,
    per_page: int = PER_PAGE,
) -> LearningPage:
    """Search the cycles of every case (any signed-in person; see the module docstring).

    ``step`` is ``"study"`` (the Study is done) or ``"act"`` (an Act decision is taken); ``decision``
    one of adopt, adapt, abandon; unknown values of either are ignored, like a filter left empty.
    Newest cycle first (by start, then by id); ``page`` is clamped to the pages there are.
    """
    terms = search_terms(text)
    where: list[ColumnElement[bool]] = [PdsaCycle.search_text.contains(t, autoescape=True) for t in terms]
    if pathway_id is not None:
        where.append(Case.pathway_id == pathway_id)
    if region_id is not None:
        where.append(Case.region_id == region_id)
    if step == "study":
        where.append(study_done())
    elif step == "act":
        where.append(PdsaCycle.act_decision.is_not(None))
    if decision in ACT_DECISIONS:
        where.append(PdsaCycle.act_decision == decision)
    total = (
        session.scalar(
            select(func.count()).select_from(PdsaCycle).join(Case, Case.id == PdsaCycle.case_id).where(*where)
        )
        or 0
    )
    per_page = max(1, per_page)
    page = min(max(1, page), max(1, -(-total // per_page)))
    rows = session.execute(
        select(PdsaCycle, Case.title, Pathway.name, Region.name, Unit.name)
        .join(Case, Case.id == PdsaCycle.case_id)
        .outerjoin(Pathway, Pathway.id == Case.pathway_id)
        .outerjoin(Region, Region.id == Case.region_id)
        .outerjoin(Unit, Unit.id == PdsaCycle.unit_id)
        .where(*where)
        .order_by(PdsaCycle.started_on.desc(), PdsaCycle.id.desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    case_ids = {cycle.case_id for cycle, *_ in rows}
    if actor.is_admin:
        mine = case_ids
    elif actor.user_id is None or not case_ids:
        mine = set()
    else:
        mine = set(
            session.scalars(
                select(CaseParticipant.case_id).where(
                    CaseParticipant.user_id == actor.user_id, CaseParticipant.case_id.in_(case_ids)
                )
            )
        )
    hits = [
        LearningHit(
            cycle.id, cycle.ramp_id, cycle.case_id, title, cycle.case_id in mine, pathway, region, unit,
            cycle.number, cycle.stage, cycle.objective, cycle.change_idea, cycle.started_on, cycle.ends_on,
            cycle.completed_at, [dict(r) for r in cycle.results], cycle.learnt, cycle.act_decision,
            cycle.next_cycle_plan, cycle.scale_up,
        )
        for cycle, title, pathway, region, unit in rows
    ]  # fmt: skip
    return LearningPage(hits, total, page, per_page, terms)


def match_spans(text: str, terms: Sequence[str]) -> list[tuple[int, int]]:
    """Where the (case-folded) ``terms`` occur in ``text``: sorted, merged (start, end) spans of
    ``text`` itself, for highlighting.

    The text is folded character by character, so a match maps back to the characters it came
    from even where folding changes the length (``ß`` folds to ``ss``).
    """
    folded: list[str] = []
    origin: list[int] = []
    for index, char in enumerate(text):
        fold = char.casefold()
        folded.append(fold)
        origin.extend([index] * len(fold))
    haystack = "".join(folded)
    spans: list[tuple[int, int]] = []
    for term in terms:
        if not term:
            continue
        start = haystack.find(term)
        while start != -1:
            end = start + len(term)
            spans.append((origin[start], origin[end - 1] + 1))
            start = haystack.find(term, end)
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged
