"""A case's workflow, loaded: the thin wrapper the services use.

SpiffWorkflow objects never leave this package: the methods here take and return plain values and
the dataclasses below. Any error the library raises while running a diagram becomes a
``WorkflowError``; the caller then rolls back and throws this object away (SpiffWorkflow has already
changed its in-memory objects, so they must never be reused).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn import BpmnEvent, BpmnWorkflow
from SpiffWorkflow.bpmn.specs.event_definitions.message import (
    MessageEventDefinition as _BaseMessage,
)
from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    CycleTimerEventDefinition,
    TimerEventDefinition,
)
from SpiffWorkflow.bpmn.specs.mixins.events.event_types import CatchingEvent
from SpiffWorkflow.exceptions import SpiffWorkflowException, TaskNotFoundException
from SpiffWorkflow.spiff.specs.event_definitions import (
    MessageEventDefinition,
    SignalEventDefinition,
)
from SpiffWorkflow.util.task import TaskState

from engine.errors import ConflictError, NotFoundError, WorkflowError
from engine.workflow.compaction import compact_workflow
from engine.workflow.engine_steps import do_engine_steps, tasks_in_tree_order
from engine.workflow.expressions import ExpressionError
from engine.workflow.model import CompiledModel, UserTaskInfo
from engine.workflow.script_engine import SafeScriptEngine
from engine.workflow.serializer import dump_state, load_state
from engine.workflow.service_tasks import Effect


@dataclass(frozen=True)
class HumanTask:
    """A ready user or manual task."""

    task_id: str
    bpmn_id: str
    process_id: str
    name: str
    lane: str | None
    unit_id: int | None
    ready_at: datetime
    info: UserTaskInfo | None


@dataclass(frozen=True)
class WaitingEvent:
    """A catch event the case waits on: a timer (with its due time), a signal or a message."""

    task_id: str
    bpmn_id: str
    process_id: str
    name: str
    kind: str
    event_name: str | None
    due_at: datetime | None
    unit_id: int | None
    since: datetime


@dataclass(frozen=True)
class _Scan:
    human: tuple[HumanTask, ...]
    waiting: tuple[WaitingEvent, ...]
    errored: tuple[Any, ...]


def _expression_error_in(err: BaseException) -> ExpressionError | None:
    """The ExpressionError behind a library exception (SpiffWorkflow wraps it without keeping it,
    but Python's exception chaining does)."""
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        if isinstance(current, ExpressionError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def _ts(value: float | None) -> datetime:
    return datetime.fromtimestamp(value or 0.0, tz=timezone.utc)


def _unit_of(task: Any) -> int | None:
    """The unit a task works for: the ``unit`` of the per-unit (multi-instance) instance it runs
    in, found by walking up the task tree and out of called processes; None outside any instance.

    Not simply ``task.data["unit"]``: without an output collection SpiffWorkflow merges every
    instance's data back into the multi-instance task, so a step after the units would inherit the
    last unit's id and be shown as that unit's task.
    """
    current = task
    while current is not None:
        internal = current.internal_data
        if "key_or_index" in internal or "item" in internal:  # set on each instance it creates
            unit = current.data.get("unit")
            return unit if isinstance(unit, int) and not isinstance(unit, bool) else None
        if current.parent is not None:
            current = current.parent
            continue
        parent_id = current.workflow.parent_task_id
        current = current.workflow.top_workflow.get_task_from_id(parent_id) if parent_id is not None else None
    return None


def _parse_due(value: Any) -> datetime | None:
    if isinstance(value, dict):  # cycle timers keep {'cycles', 'next', 'duration'}
        value = value.get("next")
    if not isinstance(value, str):
        return None
    try:
        parsed = TimerEventDefinition.get_datetime(value)
    except Exception:  # noqa: BLE001 - an unparseable value simply has no due time
        return None
    return parsed if isinstance(parsed, datetime) else None


class CaseWorkflow:
    """One case's running workflow over its model version's cached spec."""

    def __init__(self, model: CompiledModel, workflow: Any) -> None:
        self.model = model
        self._wf = workflow
        self._engine = SafeScriptEngine()
        self._wf.script_engine = self._engine
        self._scanned: _Scan | None = None

    # -- creation and persistence -------------------------------------------------------------

    @classmethod
    def start(cls, model: CompiledModel, data: dict[str, Any]) -> CaseWorkflow:
        """Create a new workflow, give its start task ``data`` and run it to the first waits."""
        wf = BpmnWorkflow(model.spec, model.subprocess_specs)
        case = cls(model, wf)
        start = wf.get_next_task(state=TaskState.READY)
        if start is not None:
            start.set_data(**data)
        case._run_engine()
        return case

    @classmethod
    def load(cls, model: CompiledModel, state: str) -> CaseWorkflow:
        """Restore a stored workflow onto the model's cached spec objects."""
        return cls(model, load_state(state, model.spec, model.subprocess_specs))

    def dump(self) -> str:
        """Compact the finished history away and return the state document to store."""
        compact_workflow(self._wf)
        return dump_state(self._wf)

    # -- reading --------------------------------------------------------------------------------

    @property
    def completed(self) -> bool:
        """Whether the process has reached its end."""
        return bool(self._wf.completed or self._wf.is_completed())

    @property
    def effects(self) -> list[Effect]:
        """Effects requested by service tasks since this object was made."""
        return list(self._engine.effects)

    def human_tasks(self) -> list[HumanTask]:
        """Every ready user or manual task, in tree order."""
        return list(self._scan().human)

    def waiting_events(self) -> list[WaitingEvent]:
        """Every catch event waiting for a timer, a signal or a message."""
        return list(self._scan().waiting)

    def next_timer_at(self) -> datetime | None:
        """The earliest due time of a waiting timer, if any."""
        dues = [e.due_at for e in self._scan().waiting if e.kind == "timer" and e.due_at is not None]
        return min(dues) if dues else None

    def ready_task(self, task_id: str) -> HumanTask:
        """The ready human task with this id, or NotFoundError / ConflictError."""
        return self._human(self._ready_spiff_task(task_id))

    # -- changing -------------------------------------------------------------------------------

    def complete(self, task_id: str, values: dict[str, Any]) -> None:
        """Complete a ready human task with ``values`` (only what expressions need) and run on."""
        task = self._ready_spiff_task(task_id)
        self._scanned = None
        task.set_data(**values)
        self._guard(task.run)
        self._run_engine()

    def run(self) -> None:
        """Run the engine to the next waits (after the workflow was moved to another version)."""
        self._run_engine()

    def send_signal(self, name: str, payload: Any = None) -> bool:
        """Deliver a signal to the case; True when a waiting event caught it."""
        return self._deliver("signal", SignalEventDefinition(name), payload)

    def send_message(self, name: str, payload: Any = None) -> bool:
        """Deliver a message (without correlation) to the case; True when it was caught."""
        return self._deliver("message", MessageEventDefinition(name), payload)

    def _deliver(self, kind: str, definition: Any, payload: Any) -> bool:
        # SpiffWorkflow raises when nothing waits for the event, so ask first.
        if not any(e.kind == kind and e.event_name == definition.name for e in self.waiting_events()):
            return False
        self._scanned = None
        self._guard(lambda: self._wf.send_event(BpmnEvent(definition, payload=payload)))
        self._run_engine()
        return True

    def advance_timers(self) -> bool:
        """Fire every timer that is due now and run on; True when anything moved."""
        before = self._signature()
        self._scanned = None
        self._guard(self._wf.refresh_timers)
        self._run_engine()
        return self._signature() != before

    # -- internals ------------------------------------------------------------------------------

    def _signature(self) -> frozenset[tuple[UUID, int]]:
        return frozenset((t.id, t.state) for t in tasks_in_tree_order(self._wf, TaskState.NOT_FINISHED_MASK))

    def _scan(self) -> _Scan:
        """One pass over the task tree for everything the services read; cached until the next
        change (the tree is walked once per request instead of once per question)."""
        if self._scanned is not None:
            return self._scanned
        human: list[HumanTask] = []
        waiting: list[WaitingEvent] = []
        errored: list[Any] = []
        for task in tasks_in_tree_order(self._wf, TaskState.READY | TaskState.WAITING | TaskState.ERROR):
            if task.state == TaskState.ERROR:
                errored.append(task)
            elif task.state == TaskState.READY:
                if task.task_spec.manual:
                    human.append(self._human(task))
            else:
                event = self._waiting(task)
                if event is not None:
                    waiting.append(event)
        self._scanned = _Scan(tuple(human), tuple(waiting), tuple(errored))
        return self._scanned

    def _waiting(self, task: Any) -> WaitingEvent | None:
        spec = task.task_spec
        if not isinstance(spec, CatchingEvent):
            return None
        definition = spec.event_definition
        if isinstance(definition, TimerEventDefinition):
            kind, name = "timer", None
            due = _parse_due(task.internal_data.get("event_value"))
            if isinstance(definition, CycleTimerEventDefinition) and due is None:
                return None
        elif isinstance(definition, SignalEventDefinition):
            kind, name, due = "signal", definition.name, None
        elif isinstance(definition, _BaseMessage):
            kind, name, due = "message", definition.name, None
        else:
            return None
        return WaitingEvent(
            task_id=str(task.id),
            bpmn_id=spec.bpmn_id or spec.name,
            process_id=task.workflow.spec.name,
            name=spec.bpmn_name or spec.bpmn_id or spec.name,
            kind=kind,
            event_name=name,
            due_at=due,
            unit_id=_unit_of(task),
            since=_ts(task.last_state_change),
        )

    def _ready_spiff_task(self, task_id: str) -> Any:
        try:
            uuid = UUID(task_id)
        except (ValueError, TypeError) as err:
            raise NotFoundError("Uppgiften finns inte.") from err
        try:
            task = self._wf.get_task_from_id(uuid)
        except TaskNotFoundException:
            task = None
        if task is None:
            raise NotFoundError("Uppgiften finns inte i ärendet.")
        if not task.task_spec.manual:
            raise NotFoundError("Uppgiften är ingen uppgift för en person.")
        if task.state != TaskState.READY:
            raise ConflictError(
                "Uppgiften är redan klar."
                if task.has_state(TaskState.FINISHED_MASK)
                else "Uppgiften är inte redo att utföras än."
            )
        return task

    def _human(self, task: Any) -> HumanTask:
        spec = task.task_spec
        process_id = task.workflow.spec.name
        bpmn_id = spec.bpmn_id or spec.name
        return HumanTask(
            task_id=str(task.id),
            bpmn_id=bpmn_id,
            process_id=process_id,
            name=spec.bpmn_name or bpmn_id,
            lane=spec.lane,
            unit_id=_unit_of(task),
            ready_at=_ts(task.last_state_change),
            info=self.model.user_tasks.get(f"{process_id}:{bpmn_id}"),
        )

    def _run_engine(self) -> None:
        self._scanned = None
        self._guard(lambda: do_engine_steps(self._wf))
        errored = self._scan().errored
        if errored:
            spec = errored[0].task_spec
            raise WorkflowError(f"Processen stannade vid {spec.bpmn_name or spec.bpmn_id or spec.name}.")

    @staticmethod
    def _guard(action: Any) -> None:
        try:
            action()
        except ExpressionError as err:
            raise WorkflowError(f"Ett uttryck i processen kunde inte beräknas: {err.reason}") from err
        except SpiffWorkflowException as err:
            cause = _expression_error_in(err)
            if cause is not None:
                raise WorkflowError(f"Ett uttryck i processen kunde inte beräknas: {cause.reason}") from err
            raise WorkflowError(f"Processen kunde inte fortsätta: {err}") from err
