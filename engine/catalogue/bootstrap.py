"""First start: reference data, the shipped models, and (optionally) demo data."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.catalogue.demo import load_demo_data
from engine.catalogue.reference import load_reference_data
from engine.persistence import Case
from engine.services import SYSTEM_ACTOR, ModelVersionInfo, publish_directory


@dataclass(frozen=True)
class BootstrapResult:
    """What a bootstrap did."""

    published: list[ModelVersionInfo]
    demo_loaded: bool


def bootstrap(session: Session, models_dir: Path, *, demo: bool) -> BootstrapResult:
    """Load reference data, publish the shipped models (new versions only when they changed), and
    load demo data when asked and the database has no cases yet. Idempotent."""
    load_reference_data(session)
    published = publish_directory(session, SYSTEM_ACTOR, models_dir)
    demo_loaded = False
    if demo and not session.scalar(select(func.count()).select_from(Case)):
        load_demo_data(session)
        demo_loaded = True
    return BootstrapResult(published, demo_loaded)
