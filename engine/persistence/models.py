"""Process models and their immutable, content-hashed versions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, deferred, mapped_column, relationship

from engine.clock import utcnow
from engine.persistence.base import Base, JSONText


class ProcessModel(Base):
    """A process (one BPMN process id) whose versions are published over time."""

    __tablename__ = "process_models"

    id: Mapped[int] = mapped_column(primary_key=True)
    process_id: Mapped[str] = mapped_column(String(120), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    versions: Mapped[list[ModelVersion]] = relationship(back_populates="process_model", order_by="ModelVersion.number")


class ModelVersion(Base):
    """One immutable version of a process model.

    It holds everything a case needs to run forever: the main BPMN document, the documents of the
    processes it calls, the forms, and the serialized spec (stored once here, never in a case).
    ``content_hash`` is the SHA-256 of all of those inputs, so publishing the same content twice
    gives back the same version.
    """

    __tablename__ = "model_versions"
    __table_args__ = (UniqueConstraint("process_model_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    process_model_id: Mapped[int] = mapped_column(ForeignKey("process_models.id"), index=True)
    number: Mapped[int] = mapped_column()
    content_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # published | retired
    status: Mapped[str] = mapped_column(String(20), default="published")
    bpmn_xml: Mapped[str] = deferred(mapped_column(Text))
    # process id -> BPMN XML of every called process this version was published with
    called_documents: Mapped[dict[str, str]] = deferred(mapped_column(JSONText, default=dict))
    # form file name -> JSON Schema
    forms: Mapped[dict[str, Any]] = deferred(mapped_column(JSONText, default=dict))
    # serialized SpiffWorkflow spec + subprocess specs (engine/workflow/serializer.py)
    spec_json: Mapped[str] = deferred(mapped_column(Text))
    # what the engine reads without the spec: user tasks (lane role, form, due), variables, ...
    catalogue: Mapped[dict[str, Any]] = mapped_column(JSONText, default=dict)
    published_at: Mapped[datetime] = mapped_column(default=utcnow)
    published_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)

    process_model: Mapped[ProcessModel] = relationship(back_populates="versions")


class ModelDraft(Base):
    """A coordinator's unpublished edit of a process model: the BPMN document and its forms.

    A model has at most one open draft; saving keeps it even with validation issues (kept in
    ``issues`` so the editor can pin them to shapes), publishing turns it into a version.
    """

    __tablename__ = "model_drafts"

    id: Mapped[int] = mapped_column(primary_key=True)
    process_id: Mapped[str] = mapped_column(String(120), index=True)
    name: Mapped[str] = mapped_column(String(200))
    bpmn_xml: Mapped[str] = deferred(mapped_column(Text))
    # form file name -> JSON Schema: the base version's forms plus any added or edited here
    forms: Mapped[dict[str, Any]] = deferred(mapped_column(JSONText, default=dict))
    issues: Mapped[list[dict[str, Any]]] = mapped_column(JSONText, default=list)
    # open | published | discarded
    status: Mapped[str] = mapped_column(String(20), default="open")
    base_version_id: Mapped[int | None] = mapped_column(ForeignKey("model_versions.id"), default=None)
    published_version_id: Mapped[int | None] = mapped_column(ForeignKey("model_versions.id"), default=None)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
