"""Choices for the pages' select lists and filters: pathways, regions, units, roles, people,
processes."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.persistence import Organisation, Pathway, ProcessModel, Region, Role, Unit, User


@dataclass(frozen=True)
class Choice:
    """One option: its value and its label (and a group, e.g. a unit's administration)."""

    id: int | str
    label: str
    group: str = ""


def pathways(session: Session) -> list[Choice]:
    """The national pathways, by name."""
    return [Choice(i, n) for i, n in session.execute(select(Pathway.id, Pathway.name).order_by(Pathway.name))]


def regions(session: Session) -> list[Choice]:
    """The regions, by name."""
    return [Choice(i, n) for i, n in session.execute(select(Region.id, Region.name).order_by(Region.name))]


def units(session: Session) -> list[Choice]:
    """Every unit, grouped by administration and region."""
    rows = session.execute(
        select(Unit.id, Unit.name, Organisation.name, Region.name)
        .join(Organisation, Organisation.id == Unit.organisation_id)
        .join(Region, Region.id == Organisation.region_id)
        .order_by(Region.name, Organisation.name, Unit.name)
    )
    return [Choice(i, n, f"{org}, {region}") for i, n, org, region in rows]


def roles(session: Session) -> list[Choice]:
    """The case roles, by Swedish name."""
    return [Choice(c, n) for c, n in session.execute(select(Role.code, Role.name_sv).order_by(Role.name_sv))]


def people(session: Session) -> list[Choice]:
    """Active people, by name."""
    query = select(User.id, User.display_name).where(User.active.is_(True)).order_by(User.display_name)
    return [Choice(i, n) for i, n in session.execute(query)]


def processes(session: Session) -> list[Choice]:
    """The published process models, by name."""
    return [
        Choice(p, n)
        for p, n in session.execute(select(ProcessModel.process_id, ProcessModel.name).order_by(ProcessModel.name))
    ]
