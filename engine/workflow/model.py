"""A compiled model version: spec objects plus what the engine reads without them."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from engine.workflow.serializer import load_spec


@dataclass(frozen=True)
class UserTaskInfo:
    """What a human task of a model needs outside the workflow: role, form, due duration, text."""

    process_id: str
    bpmn_id: str
    name: str
    lane: str | None
    role: str | None
    form: str | None
    ui_form: str | None
    due_duration: str | None
    instructions: str
    pdsa_stage: str | None = None

    @property
    def key(self) -> str:
        """The catalogue key, ``process_id:bpmn_id``."""
        return f"{self.process_id}:{self.bpmn_id}"


@dataclass(frozen=True)
class CompiledModel:
    """Spec objects (shared, never mutated while running) and the model's catalogue."""

    process_id: str
    name: str
    spec: Any
    subprocess_specs: dict[str, Any]
    user_tasks: dict[str, UserTaskInfo]
    variables: frozenset[str]
    signals: frozenset[str]
    messages: frozenset[str]
    # the process's own reminder policy (None: the deployment's default), see engine.reminders
    reminder_offsets: str | None = None
    escalate_after: str | None = None

    def catalogue(self) -> dict[str, Any]:
        """The JSON-able catalogue stored with the model version."""
        return {
            "process_id": self.process_id,
            "name": self.name,
            "user_tasks": [asdict(t) for t in self.user_tasks.values()],
            "variables": sorted(self.variables),
            "signals": sorted(self.signals),
            "messages": sorted(self.messages),
            "reminder_offsets": self.reminder_offsets,
            "escalate_after": self.escalate_after,
        }

    @classmethod
    def from_stored(cls, spec_json: str, catalogue: dict[str, Any]) -> CompiledModel:
        """Rebuild from a stored model version (spec JSON + catalogue)."""
        spec, subprocess_specs = load_spec(spec_json)
        tasks = [UserTaskInfo(**t) for t in catalogue.get("user_tasks", [])]
        return cls(
            process_id=catalogue["process_id"],
            name=catalogue.get("name", catalogue["process_id"]),
            spec=spec,
            subprocess_specs=subprocess_specs,
            user_tasks={t.key: t for t in tasks},
            variables=frozenset(catalogue.get("variables", [])),
            signals=frozenset(catalogue.get("signals", [])),
            messages=frozenset(catalogue.get("messages", [])),
            reminder_offsets=catalogue.get("reminder_offsets"),
            escalate_after=catalogue.get("escalate_after"),
        )
