"""Moving a running case's workflow onto another version of its model.

SpiffWorkflow aligns the task specs of two versions (``SpiffWorkflow.bpmn.util.diff``: by BPMN id,
then by structure) and re-points a workflow's tasks at the new specs. What it leaves to us is the
policy, decided here:

- A case can move only when every task it has actually reached (ready, waiting, running, failed,
  or kept as finished history) still exists in the target version, and every sub-process it runs
  still exists there. A task that was only *predicted* (a step ahead of the case) may disappear.
- Nothing the case has done is redone: ready tasks keep their ids (so claims, drafts and due dates
  survive) and a waiting timer keeps its due time. Only the predicted steps ahead of each reached
  task are predicted again from the target version's flows.
- The moved state must load onto the target version's specs (a round trip through the serializer)
  before it is handed back; otherwise the move is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from SpiffWorkflow import TaskState
from SpiffWorkflow.bpmn.util.diff import diff_workflow, migrate_workflow

from engine.workflow.model import CompiledModel
from engine.workflow.runtime import CaseWorkflow
from engine.workflow.serializer import dump_state, load_state, spec_registry

_AHEAD = TaskState.PREDICTED_MASK | TaskState.FUTURE
"""Tasks the case has not reached: predicted (maybe, likely) or expected (future)."""

_STATE_WORDS = {
    TaskState.READY: "väntar på att utföras",
    TaskState.WAITING: "väntar",
    TaskState.STARTED: "pågår",
    TaskState.ERROR: "har fel",
    TaskState.COMPLETED: "är gjort",
    TaskState.CANCELLED: "är avbrutet",
}


@dataclass(frozen=True)
class MigrationIssue:
    """Why a case cannot move: a reached task or a sub-process missing from the target version."""

    process_id: str
    bpmn_id: str
    message: str


class MigrationBlockedError(Exception):
    """The case cannot move to the target version; ``issues`` say why."""

    def __init__(self, issues: list[MigrationIssue]) -> None:
        super().__init__("; ".join(i.message for i in issues))
        self.issues = issues


def _name(spec: Any) -> str:
    return str(getattr(spec, "bpmn_name", None) or getattr(spec, "bpmn_id", None) or spec.name)


def _issues(workflow: Any, top_diff: Any, sub_diffs: dict[Any, Any]) -> list[MigrationIssue]:
    issues: list[MigrationIssue] = []
    for diff, process in [(top_diff, workflow), *((d, workflow.subprocesses[k]) for k, d in sub_diffs.items())]:
        if diff is None:
            issues.append(
                MigrationIssue(
                    process.spec.name,
                    "",
                    f"Delprocessen '{process.spec.name}' som ärendet kör finns inte i den nya versionen.",
                )
            )
            continue
        for task in diff.removed:
            if task.has_state(_AHEAD):
                continue  # a step ahead of the case: predicted again from the new flows
            spec = task.task_spec
            state = next((w for s, w in _STATE_WORDS.items() if task.has_state(s)), "finns i ärendet")
            issues.append(
                MigrationIssue(
                    process.spec.name,
                    str(getattr(spec, "bpmn_id", None) or spec.name),
                    f"Steget '{_name(spec)}' {state} men finns inte i den nya versionen.",
                )
            )
    return issues


def _repredict(process: Any) -> None:
    """Predict the steps ahead of every reached, unfinished task again from its (new) spec: its
    children not yet reached are dropped and predicted afresh from the new outputs."""
    reached = TaskState.READY | TaskState.WAITING | TaskState.STARTED | TaskState.ERROR
    for task in list(process.get_tasks(state=reached, skip_subprocesses=True)):
        if task.id not in process.tasks:
            continue
        for child in list(task.children):
            if child.has_state(_AHEAD):
                process._remove_task(child.id)
        task.task_spec._predict_hook(task)
        for child in task.children:
            if child.has_state(_AHEAD):
                child.task_spec._predict(child, mask=_AHEAD)


def _prepare(source: CompiledModel, state: str, target: CompiledModel) -> tuple[Any, Any, dict[Any, Any]]:
    workflow = load_state(state, source.spec, source.subprocess_specs)
    if target.process_id != source.process_id:
        raise MigrationBlockedError(
            [MigrationIssue(source.process_id, "", "Ärendet kan bara flyttas till en version av samma process.")]
        )
    top_diff, sub_diffs = diff_workflow(spec_registry(), workflow, target.spec, target.subprocess_specs)
    return workflow, top_diff, sub_diffs


def check_migration(source: CompiledModel, state: str, target: CompiledModel) -> list[MigrationIssue]:
    """Why the case (its stored ``state`` on ``source``) cannot move to ``target``; [] when it can."""
    try:
        workflow, top_diff, sub_diffs = _prepare(source, state, target)
    except MigrationBlockedError as err:
        return err.issues
    issues = _issues(workflow, top_diff, sub_diffs)
    if issues:
        return issues
    try:
        _move(workflow, top_diff, sub_diffs, target)
    except MigrationBlockedError as err:
        return err.issues
    return []


def migrate_case(source: CompiledModel, state: str, target: CompiledModel) -> CaseWorkflow:
    """The case's workflow moved onto ``target``; MigrationBlockedError when it cannot move."""
    workflow, top_diff, sub_diffs = _prepare(source, state, target)
    issues = _issues(workflow, top_diff, sub_diffs)
    if issues:
        raise MigrationBlockedError(issues)
    return _move(workflow, top_diff, sub_diffs, target)


def _move(workflow: Any, top_diff: Any, sub_diffs: dict[Any, Any], target: CompiledModel) -> CaseWorkflow:
    # No reset of ready or waiting tasks (Spiff's default would restart timers and give ready
    # tasks new children ids): only errored tasks are reset, so they are tried again.
    migrate_workflow(top_diff, workflow, target.spec, reset_mask=TaskState.ERROR)
    for key, diff in sub_diffs.items():
        sub = workflow.subprocesses[key]
        migrate_workflow(diff, sub, target.subprocess_specs[sub.spec.name], reset_mask=TaskState.ERROR)
    workflow.subprocess_specs = target.subprocess_specs
    for process in [workflow, *workflow.subprocesses.values()]:
        _repredict(process)
    try:
        moved = load_state(dump_state(workflow), target.spec, target.subprocess_specs)
    except Exception as err:  # any failure to load means the move is unsafe
        raise MigrationBlockedError(
            [MigrationIssue(target.process_id, "", f"Ärendets tillstånd passar inte den nya versionen ({err}).")]
        ) from err
    case = CaseWorkflow(target, moved)
    case.run()
    return case
