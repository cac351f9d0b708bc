"""Loading reference data: roles, regions with their administrations and units, and the national
pathway catalogue (from the Region Skåne page in shared/seeds)."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.persistence import Organisation, Pathway, Region, Unit
from engine.services.catalogue import ensure_roles

PATHWAYS_FILE = Path(__file__).with_name("pathways.json")

# Regions, their administrations (förvaltningar) and units: demo-scale, but real kinds of place.
REGIONS: dict[str, tuple[str, dict[str, list[str]]]] = {
    "vgr": (
        "Västra Götalandsregionen",
        {
            "Närhälsan": [
                "Närhälsan Lerum vårdcentral",
                "Närhälsan Majorna vårdcentral",
                "Närhälsan Skene vårdcentral",
            ],
            "Sahlgrenska Universitetssjukhuset": ["Medicinmottagning Östra", "Neurologiavdelning 71"],
            "Skaraborgs Sjukhus": ["Medicinkliniken Skövde"],
        },
    ),
    "skane": (
        "Region Skåne",
        {
            "Primärvården Skåne": ["Vårdcentralen Lindeborg", "Vårdcentralen Kävlinge", "Vårdcentralen Hörby"],
            "Skånes universitetssjukhus": ["Hjärtsviktsmottagningen Lund", "Strokeenheten Malmö"],
        },
    ),
    "kronoberg": (
        "Region Kronoberg",
        {"Primärvården Kronoberg": ["Vårdcentralen Teleborg", "Vårdcentralen Ljungby"]},
    ),
}


def load_reference_data(session: Session) -> None:
    """Insert roles, regions, administrations, units and pathways that are missing (idempotent)."""
    ensure_roles(session)
    for code, (name, organisations) in REGIONS.items():
        region = session.scalar(select(Region).where(Region.code == code))
        if region is None:
            region = Region(code=code, name=name)
            session.add(region)
            session.flush()
        for org_name, unit_names in organisations.items():
            org = session.scalar(
                select(Organisation).where(Organisation.region_id == region.id, Organisation.name == org_name)
            )
            if org is None:
                org = Organisation(region_id=region.id, name=org_name)
                session.add(org)
                session.flush()
            existing = set(session.scalars(select(Unit.name).where(Unit.organisation_id == org.id)))
            for unit_name in unit_names:
                if unit_name not in existing:
                    kind = "vårdcentral" if "vårdcentral" in unit_name.lower() else "verksamhet"
                    session.add(Unit(organisation_id=org.id, name=unit_name, kind=kind))
    existing_codes = set(session.scalars(select(Pathway.code)))
    for item in json.loads(PATHWAYS_FILE.read_text(encoding="utf-8"))["pathways"]:
        if item["code"] not in existing_codes:
            session.add(
                Pathway(
                    code=item["code"],
                    name=item["name"],
                    national_status=item["national_status"],
                    skane_status=item["skane_status"],
                )
            )
    session.flush()
