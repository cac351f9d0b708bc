"""SpiffWorkflow's engine steps and task-tree walks, with the same results in fewer walks.

``BpmnWorkflow.do_engine_steps`` runs the ready engine tasks (gateways, events, service tasks)
until only people's tasks and waits are left. To find them it walks the task tree with the
library's general iterator: each active subprocess at least once per round, then the whole tree,
and a round more whenever anything ran. A completion on a case in its unit steps made some twenty
walks of ~60 tasks (740 tasks visited), most of which found nothing, and the iterator's
bookkeeping (list concatenation, depth tracking, a parent look-up per leaf) made them nearly all
of the engine's time: completing a task took 0.43 ms of CPU, 0.22 ms with this module (a
micro-benchmark on saved PDSA-phase states).

Here the rounds are the library's (SpiffWorkflow 3.2.0, ``bpmn/workflow.py``), in the same order
with the same calls, but a walk is made only when the workflow it covers holds a ready engine task
at all (a look over its tasks and those of the subprocesses it started, no tree walk), and a walk
is :func:`tasks_in_tree_order`: the same tasks in the same order as ``BpmnTaskIterator`` with a
state filter, without its bookkeeping.
``CHECK_STEPS`` (on in the test suite) runs the library's own ``do_engine_steps`` on a copy of the
workflow at every call and fails when the two results differ; tests/engine/test_engine_steps.py also
fails when the library's code copied here changes (an upgrade of SpiffWorkflow).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from SpiffWorkflow.bpmn.specs.mixins.subworkflow_task import SubWorkflowTask
from SpiffWorkflow.util.task import TaskState

from engine.workflow.serializer import dump_state, load_state

_READY = TaskState.READY
_PREDICTED = TaskState.PREDICTED_MASK
_DEFINITE = TaskState.DEFINITE_MASK
_FINISHED = TaskState.FINISHED_MASK

CHECK_STEPS = False
"""Also run the library's ``do_engine_steps`` on a copy and raise when it ends elsewhere (tests)."""


def tasks_in_tree_order(workflow: Any, state: int = TaskState.ANY_MASK) -> Iterator[Any]:
    """The tasks of ``workflow`` (and of the subprocesses below it) in ``state``, in the order of
    ``workflow.get_tasks_iterator(state=state)``: depth first from the root, a subprocess's tasks
    before the children of the task that called it, not descending below tasks in a state the
    filter cannot lead to, nor into a finished subprocess when only unfinished tasks are asked for.
    (The library also stops at depth 1000; compaction keeps a case's trees a few dozen deep.)"""
    if state & _PREDICTED:
        lowest = TaskState.MAYBE
    elif state & _DEFINITE:
        lowest = TaskState.FUTURE
    else:
        lowest = TaskState.COMPLETED
    finished_subprocesses_too = not state <= _FINISHED
    subprocesses = workflow.top_workflow.subprocesses
    stack = [workflow.task_tree]
    pop, push = stack.pop, stack.extend
    while stack:
        task = pop()
        current = task._state
        children = task._children
        subprocess = subprocesses.get(task.id) if subprocesses else None
        if (children or subprocess is not None) and (current >= lowest or subprocess is not None):
            tasks = task.workflow.tasks
            below = [tasks.get(child) for child in reversed(children)]
            if subprocess is not None and (finished_subprocesses_too or current < _FINISHED):
                below.append(subprocess.task_tree)  # popped first: before the task's children
            push(below)
        if current & state:
            yield task


def do_engine_steps(workflow: Any) -> None:
    """``workflow.do_engine_steps()``, with the walks for ready tasks made only where one is."""
    checked = _library_copy(workflow) if CHECK_STEPS else None
    while _round(workflow):
        pass
    workflow.refresh_timers()
    if checked is not None:
        _compare(workflow, checked)


def _round(workflow: Any) -> bool:
    """One ``BpmnWorkflow._do_engine_steps``: True when it is to be run again."""
    active = workflow.get_active_subprocesses()
    for subprocess in sorted(active, key=lambda v: v.depth, reverse=True):
        while _run_ready(subprocess) > 0:
            pass
        if subprocess.parent_task_id is not None:
            task = workflow.get_task_from_id(subprocess.parent_task_id)
            task.task_spec._update(task)
    return _run_ready(workflow) > 0 or len(workflow.get_active_subprocesses()) > len(active)


def _run_ready(workflow: Any) -> int:
    """Run the ready engine tasks of ``workflow`` and the subprocesses below it, as the library's
    ``update_workflow`` does (all found before the first runs); how many ran."""
    if not _holds_ready_engine_task(workflow, workflow.top_workflow.subprocesses):
        return 0
    count = 0
    for task in list(tasks_in_tree_order(workflow, _READY)):
        if not task.task_spec.manual:
            task.run()
            count += 1
    return count


def _holds_ready_engine_task(workflow: Any, subprocesses: dict[Any, Any]) -> bool:
    """Whether a walk of ``workflow`` could find a ready task that is not a person's: one among its
    own tasks or those of the subprocesses its call activities started (a superset of what the walk
    reaches). Each task is looked at once: a case with many units has as many subprocesses, and
    looking through all of them from each would grow with their square."""
    called = []
    for task in workflow.tasks.values():
        spec = task.task_spec
        if task._state == _READY and not spec.manual:
            return True
        if isinstance(spec, SubWorkflowTask):
            called.append(task.id)
    for task_id in called:
        subprocess = subprocesses.get(task_id)
        if subprocess is not None and _holds_ready_engine_task(subprocess, subprocesses):
            return True
    return False


def _library_copy(workflow: Any) -> tuple[Any, int]:
    """A copy of the workflow with a script engine of its own, and how many service-task effects
    the workflow's engine holds so far."""
    copy = load_state(dump_state(workflow), workflow.spec, workflow.subprocess_specs)
    copy.script_engine = type(workflow.script_engine)()
    return copy, len(workflow.script_engine.effects)


def _compare(ours: Any, checked: tuple[Any, int]) -> None:
    """Raise unless the library's ``do_engine_steps`` on the copy made the same trees — the same
    tasks (by spec, in tree order) in the same states with the same data — and the same service
    effects. Task ids of tasks made during the steps are random, and due times (a timer's
    ``event_value``) and times of state changes differ by the clock between the two runs: those
    are left out."""
    theirs, effects_before = checked
    theirs.do_engine_steps()
    if _shape(ours) != _shape(theirs):
        raise AssertionError("engine steps ended elsewhere than SpiffWorkflow's do_engine_steps")
    if ours.script_engine.effects[effects_before:] != theirs.script_engine.effects:
        raise AssertionError("engine steps made other service effects than SpiffWorkflow's do_engine_steps")


def _shape(workflow: Any) -> list[Any]:
    shape: list[Any] = []
    subprocesses = workflow.subprocesses

    def visit(task: Any, depth: int) -> None:
        internal = {key: (key if key == "event_value" else value) for key, value in task.internal_data.items()}
        shape.append((depth, task.task_spec.name, task._state, task.data, internal))
        subprocess = subprocesses.get(task.id)
        if subprocess is not None:
            shape.append(("subprocess", subprocess.completed, subprocess.success))
            visit(subprocess.task_tree, depth + 1)
        for child in task.children:
            visit(child, depth + 1)

    visit(workflow.task_tree, 0)
    shape.append(("workflow", workflow.completed, workflow.success, len(subprocesses)))
    return shape
