"""Reference data: the known roles, and look-ups of pathways, regions and units."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.persistence import Role

# code, Swedish name (= lane name in diagrams), English name, description
DEFAULT_ROLES: tuple[tuple[str, str, str, str], ...] = (
    ("koordinator", "Koordinator", "Coordinator", "Samordnar införandet och ser alla ärendets uppgifter."),
    ("kunskapsstyrning", "Kunskapsstyrning", "Knowledge-based management", "Regional kunskapsstyrning, RPO."),
    ("samordningsrad", "Samordningsråd", "Coordination council", "Fattar beslut och förankrar planen."),
    ("rpt", "RPT", "Regional process team", "Regionalt processteam."),
    ("inforandeansvarig", "Införandeansvarig", "Person responsible for introduction", "Ansvarar lokalt."),
    ("lokal_verksamhet", "Lokal verksamhet", "Local unit", "Personal i den berörda verksamheten."),
    ("lag", "LAG", "Local working group", "Skåneövergripande lokal arbetsgrupp."),
    ("processagare", "Processägare", "Process owner", "Äger processen (Region Kronoberg)."),
    ("processledare", "Processledare", "Process lead", "Leder processteamet."),
    ("medicinskt_ansvarig", "Medicinskt ansvarig", "Medical lead", "Ansvarar för det medicinska innehållet."),
    ("processteam", "Processteam", "Process team", "Processteamets medlemmar."),
)


def ensure_roles(session: Session) -> None:
    """Insert the default roles that are missing (idempotent)."""
    existing = set(session.scalars(select(Role.code)))
    for code, name_sv, name_en, description in DEFAULT_ROLES:
        if code not in existing:
            session.add(Role(code=code, name_sv=name_sv, name_en=name_en, description_sv=description))
    session.flush()


def role_lookup(session: Session) -> dict[str, str]:
    """Casefolded role code, Swedish and English name -> role code (how lane names are matched)."""
    lookup: dict[str, str] = {}
    for role in session.scalars(select(Role)):
        for key in (role.code, role.name_sv, role.name_en):
            lookup[key.casefold()] = role.code
    return lookup
