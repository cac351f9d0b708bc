"""Reference data: roles, regions, administrations (förvaltningar), units and care pathways."""

from __future__ import annotations

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from engine.persistence.base import Base


class Role(Base):
    """A role a person can hold in a case; a lane in a diagram names one (DESIGN decision 5)."""

    __tablename__ = "roles"

    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    name_sv: Mapped[str] = mapped_column(String(120), unique=True)
    name_en: Mapped[str] = mapped_column(String(120))
    description_sv: Mapped[str] = mapped_column(String(500), default="")


class Region(Base):
    """A Swedish region (e.g. Västra Götalandsregionen)."""

    __tablename__ = "regions"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))

    organisations: Mapped[list[Organisation]] = relationship(back_populates="region")


class Organisation(Base):
    """A förvaltning (administration) inside a region, grouping units."""

    __tablename__ = "organisations"
    __table_args__ = (UniqueConstraint("region_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    region_id: Mapped[int] = mapped_column(ForeignKey("regions.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))

    region: Mapped[Region] = relationship(back_populates="organisations")
    units: Mapped[list[Unit]] = relationship(back_populates="organisation")


class Unit(Base):
    """A unit (enhet, verksamhet, vårdcentral) where a pathway is introduced and PDSA loops run."""

    __tablename__ = "units"
    __table_args__ = (UniqueConstraint("organisation_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(60), default="enhet")

    organisation: Mapped[Organisation] = relationship(back_populates="units")


class Pathway(Base):
    """A national care pathway (vårdförlopp) and its status nationally and in Region Skåne."""

    __tablename__ = "pathways"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(80), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    # godkand | under_framtagande | under_uppstart
    national_status: Mapped[str] = mapped_column(String(40))
    # introducerad | planering_pagar | startar_snart | None (not yet planned in Skåne)
    skane_status: Mapped[str | None] = mapped_column(String(40), default=None)
