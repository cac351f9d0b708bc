"""Loading model versions for running cases, with an in-process cache of compiled specs.

A version is immutable, so its spec objects, catalogue and form validators are built once per
process and shared by every case that runs it. The cache is keyed by the content hash, never by the
row id: an id can be reused (a rolled-back publish, another database in the same process).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.errors import NotFoundError
from engine.persistence import ModelVersion
from engine.reminders import ReminderPolicy, deployment_policy
from engine.services.forms import form_validator
from engine.workflow import CompiledModel

_CACHE_SIZE = 64


@dataclass
class LoadedVersion:
    """A model version ready to run cases."""

    version_id: int
    content_hash: str
    model: CompiledModel
    forms: dict[str, Any]
    _validators: dict[str, Any] = field(default_factory=dict)

    @cached_property
    def reminder_policy(self) -> ReminderPolicy:
        """The model's reminder policy over the deployment's defaults."""
        return ReminderPolicy.parse(self.model.reminder_offsets, self.model.escalate_after, deployment_policy())

    def validator(self, form: str) -> Any:
        """The (cached) JSON Schema validator of one of the version's forms."""
        found = self._validators.get(form)
        if found is None:
            found = self._validators[form] = form_validator(self.forms[form])
        return found


class _VersionCache:
    def __init__(self) -> None:
        self._items: OrderedDict[str, LoadedVersion] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, content_hash: str) -> LoadedVersion | None:
        with self._lock:
            item = self._items.get(content_hash)
            if item is not None:
                self._items.move_to_end(content_hash)
            return item

    def put(self, item: LoadedVersion) -> None:
        with self._lock:
            self._items[item.content_hash] = item
            while len(self._items) > _CACHE_SIZE:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


VERSION_CACHE = _VersionCache()


def load_version(session: Session, version_id: int, content_hash: str | None = None) -> LoadedVersion:
    """The runnable form of a model version, from the cache or the database."""
    if content_hash is None:
        content_hash = session.scalar(select(ModelVersion.content_hash).where(ModelVersion.id == version_id))
        if content_hash is None:
            raise NotFoundError("Modellversionen finns inte.")
    cached = VERSION_CACHE.get(content_hash)
    if cached is not None:
        return cached
    row = session.execute(
        select(ModelVersion.spec_json, ModelVersion.catalogue, ModelVersion.forms).where(ModelVersion.id == version_id)
    ).one_or_none()
    if row is None:
        raise NotFoundError("Modellversionen finns inte.")
    model = CompiledModel.from_stored(row.spec_json, row.catalogue)
    loaded = LoadedVersion(version_id, content_hash, model, row.forms or {})
    VERSION_CACHE.put(loaded)
    return loaded
