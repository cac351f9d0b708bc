"""Keep a long-running case's workflow state small.

SpiffWorkflow keeps every task it ever ran: a loop adds its tasks again on every round, and a call
activity keeps its finished sub-workflow. A PDSA loop that runs for years would make each load and
save slower and slower (spiff-arena #773, #2960). Infora keeps history in its own tables (audit
events, form submissions), so the workflow only needs what can still affect the future:

* every task that is not finished (plus tasks in ERROR, which a person may reset);
* the lowest common ancestor of those tasks and everything below it — parallel joins look at
  their sibling branches, which all hang below the split, and that split is at or below this
  ancestor;
* that ancestor's parent, whose data a waiting task inherits when it becomes ready;
* above it, a *skeleton* of the finished path: the latest task of each spec that feeds a joining
  gateway (parallel or inclusive), in their order. SpiffWorkflow's parallel gateway decides whether
  a loop-back input can still arrive by walking up the ancestors until it meets one of its input
  specs; the skeleton answers that walk exactly as the full history would (the nearest occurrence
  of every such spec is kept, in order), and it is bounded by the number of specs in the diagram,
  not by the number of loops. A diagram without joins keeps no skeleton at all.

Everything else is finished history and is cut out (side branches of finished parallel sections,
earlier loop rounds); finished sub-workflows whose call-activity task is finished are dropped. The result is verified in the tests
by running the same diagrams with and without compaction.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

from SpiffWorkflow.bpmn.specs.mixins.unstructured_join import UnstructuredJoin
from SpiffWorkflow.util.task import TaskState

_LIVE = TaskState.NOT_FINISHED_MASK | TaskState.ERROR


def compact_workflow(workflow: Any) -> int:
    """Remove finished history from a top-level BpmnWorkflow in place; return tasks removed."""
    removed = 0
    for task_id, sub in list(workflow.subprocesses.items()):
        if task_id not in workflow.subprocesses:
            continue  # already removed with its parent
        owner = workflow.get_task_from_id(task_id)
        if sub.completed and (owner is None or owner.has_state(TaskState.FINISHED_MASK)):
            removed += _delete_subprocess(workflow, task_id)
    removed += _compact_tree(workflow, workflow)
    for sub in workflow.subprocesses.values():
        removed += _compact_tree(workflow, sub)
    return removed


def _delete_subprocess(top: Any, task_id: Any) -> int:
    sub = top.subprocesses.pop(task_id)
    count = len(sub.tasks)
    for child_id in [tid for tid in sub.tasks if tid in top.subprocesses]:
        count += _delete_subprocess(top, child_id)
    return count


def _compact_tree(top: Any, wf: Any) -> int:
    root = wf.task_tree
    live = [t for t in wf.tasks.values() if t.state & _LIVE]
    if not live:
        return 0
    anchor = _lowest_common_ancestor(live)
    keep_top = anchor.parent if anchor.parent is not None else anchor
    chain: list[Any] = []  # keep_top's ancestors below the root, bottom-up
    node = keep_top.parent
    while node is not None and node is not root:
        chain.append(node)
        node = node.parent
    skeleton: list[Any] = []
    seen_specs: set[str] = set()
    join_inputs = _join_inputs(wf.spec)
    for task in chain:
        if task.task_spec.name in join_inputs and task.task_spec.name not in seen_specs:
            seen_specs.add(task.task_spec.name)
            skeleton.append(task)
    skeleton.reverse()
    keep_ids = {t.id for t in _subtree(keep_top)} | {t.id for t in skeleton} | {root.id}
    doomed = [tid for tid in wf.tasks if tid not in keep_ids]
    if not doomed:
        return 0
    for tid in doomed:
        if tid in top.subprocesses:
            _delete_subprocess(top, tid)
        del wf.tasks[tid]
    path = [root, *skeleton, keep_top]
    for parent, child in pairwise(path):
        parent._children = [child.id]
        child._parent = parent.id
    if wf.last_task is not None and wf.last_task.id not in keep_ids:
        wf.last_task = None
    return len(doomed)


_JOIN_INPUTS_ATTRIBUTE = "_infora_join_inputs"


def _join_inputs(spec: Any) -> frozenset[str]:
    """Names of the specs that feed a joining gateway of this process spec, kept on the spec
    object itself: a table keyed by ``id(spec)`` would hand a spec dropped from the version cache's
    answer to a new spec that happens to get the same id."""
    found: frozenset[str] | None = getattr(spec, _JOIN_INPUTS_ATTRIBUTE, None)
    if found is None:
        found = frozenset(
            source.name
            for task_spec in spec.task_specs.values()
            if isinstance(task_spec, UnstructuredJoin) and len(task_spec.inputs) > 1
            for source in task_spec.inputs
        )
        setattr(spec, _JOIN_INPUTS_ATTRIBUTE, found)
    return found


def _lowest_common_ancestor(tasks: list[Any]) -> Any:
    path: list[Any] = []
    node = tasks[0]
    while node is not None:
        path.append(node)
        node = node.parent
    depth_of = {t.id: i for i, t in enumerate(path)}
    best = 0
    for task in tasks[1:]:
        node = task
        while node.id not in depth_of:
            node = node.parent
        best = max(best, depth_of[node.id])
    return path[best]


def _subtree(task: Any) -> list[Any]:
    out = []
    stack = [task]
    while stack:
        node = stack.pop()
        out.append(node)
        stack.extend(node.children)
    return out
