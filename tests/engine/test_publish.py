"""Publishing through the service: immutable, content-hashed versions; a refused model stores
nothing; only coordinators publish."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.errors import InvalidModelError, PermissionDeniedError
from engine.persistence import AuditEvent, ModelVersion, ProcessModel
from engine.services import SYSTEM_ACTOR, publish_model_version
from tests.bpmn_builder import forms, two_task_loop
from tests.factories import make_actor

BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"><bpmn:process id="two_tasks"
name="&lol3;" isExecutable="true"/></bpmn:definitions>"""


def _counts(s: Session) -> tuple[int | None, ...]:
    return tuple(s.scalar(select(func.count()).select_from(m)) for m in (ProcessModel, ModelVersion, AuditEvent))


def test_versions_are_content_hashed_and_refusals_store_nothing(reference: Session) -> None:
    s = reference
    model = two_task_loop()
    first = publish_model_version(s, SYSTEM_ACTOR, "two_tasks", {"two.bpmn": model.xml()}, forms())
    again = publish_model_version(s, SYSTEM_ACTOR, "two_tasks", {"two.bpmn": model.xml()}, forms())
    assert first.created and not again.created and again.id == first.id and first.number == 1
    model.user_task("task_c", "Uppgift C")  # unreachable: refused
    before = _counts(s)
    for documents in ({"two.bpmn": model.xml()}, {"two.bpmn": BOMB}, {"two.bpmn": b"<not xml"}):
        with pytest.raises(InvalidModelError):
            publish_model_version(s, SYSTEM_ACTOR, "two_tasks", documents, forms())
    assert _counts(s) == before
    changed = two_task_loop()
    changed.name = "Två uppgifter, version 2"
    second = publish_model_version(s, SYSTEM_ACTOR, "two_tasks", {"two.bpmn": changed.xml()}, forms())
    assert second.created and second.number == 2 and second.content_hash != first.content_hash
    member = make_actor(s, "medlem")
    with pytest.raises(PermissionDeniedError):
        publish_model_version(s, member, "two_tasks", {"two.bpmn": changed.xml()}, forms())
