"""The workflow state stays small over many loops, and compaction never changes what runs."""

from __future__ import annotations

from typing import Any

from engine.workflow import CaseWorkflow, compile_bundle
from engine.workflow.serializer import dump_state
from tests.bpmn_builder import Process, forms, two_task_loop

ROLES = {"rpt": "rpt", "lokal verksamhet": "lokal_verksamhet"}


def _model(process: Process, *more: Process) -> Any:
    docs = {f"{p.pid}.bpmn": p.xml() for p in (process, *more)}
    return compile_bundle(process.pid, docs, forms(), ROLES).model


def _round_trip(model: Any, wf: CaseWorkflow, compact: bool) -> CaseWorkflow:
    state = wf.dump() if compact else dump_state(wf._wf)
    return CaseWorkflow.load(model, state)


def test_state_size_is_flat_over_forty_loops() -> None:
    model = _model(two_task_loop())
    wf = CaseWorkflow.start(model, {})
    sizes = []
    for _ in range(40):
        for _ in range(2):
            task = wf.human_tasks()[0]
            wf.complete(task.task_id, {"again": True})
            wf = _round_trip(model, wf, compact=True)
        sizes.append(len(wf.dump()))
    assert sizes[-1] < sizes[0] * 1.2, sizes
    uncompacted = CaseWorkflow.start(model, {})
    for _ in range(80):
        uncompacted.complete(uncompacted.human_tasks()[0].task_id, {"again": True})
    assert len(dump_state(uncompacted._wf)) > 5 * sizes[-1]


def _parallel_loop() -> Process:
    p = Process("parallel_loop")
    p.start()
    p.gateway("merge")
    p.gateway("split", kind="parallelGateway")
    for branch in ("a", "b", "c"):
        p.user_task(f"task_{branch}", f"Gren {branch}")
    p.gateway("join", kind="parallelGateway")
    p.user_task("task_review", "Granska")
    p.gateway("gw_again", default="flow_done")
    p.end()
    p.chain("start", "merge", "split")
    for branch in ("a", "b", "c"):
        p.flow("split", f"task_{branch}")
        p.flow(f"task_{branch}", "join")
    p.chain("join", "task_review", "gw_again")
    p.flow("gw_again", "merge", condition="again")
    p.flow("gw_again", "end", flow_id="flow_done")
    return p


def _drive(model: Any, compact: bool) -> list[tuple[str, ...]]:
    """Complete tasks in a fixed but uneven order; record the ready tasks after each step."""
    wf = CaseWorkflow.start(model, {})
    seen: list[tuple[str, ...]] = []
    order = ["task_c", "task_a", "task_b", "task_review", "task_b", "task_c", "task_a", "task_review"]
    for round_no in range(3):
        for bpmn_id in order[(round_no % 2) * 4 : (round_no % 2) * 4 + 4]:
            ready = {t.bpmn_id: t for t in wf.human_tasks()}
            seen.append(tuple(sorted(ready)))
            again = round_no < 2
            wf.complete(ready[bpmn_id].task_id, {"again": again})
            wf = _round_trip(model, wf, compact)
    seen.append(tuple(sorted(t.bpmn_id for t in wf.human_tasks())))
    assert wf.completed
    return seen


def test_parallel_join_in_a_loop_waits_for_every_branch_in_every_round() -> None:
    """A join inside a loop must wait for all three branches in every round.

    Measured with SpiffWorkflow 3.2.0: without compaction the library fires the join of round two
    as soon as one branch is done, because it counts the finished branches of round one (stale
    history). With compaction that history is gone and the join behaves as BPMN says.
    """
    model = _model(_parallel_loop())
    everything = ("task_a", "task_b", "task_c")
    expected = [
        everything,
        ("task_a", "task_b"),
        ("task_b",),
        ("task_review",),
        everything,
        ("task_a", "task_c"),
        ("task_a",),
        ("task_review",),
        everything,
        ("task_a", "task_b"),
        ("task_b",),
        ("task_review",),
        (),
    ]
    assert _drive(model, compact=True) == expected
    assert _drive(model, compact=False) != expected  # the library's own behaviour, see above


def test_finished_call_activities_are_dropped() -> None:
    child = Process("child")
    child.start()
    child.user_task("child_task", "Barnuppgift")
    child.end()
    child.chain("start", "child_task", "end")
    parent = Process("parent")
    parent.start()
    parent.raw('<bpmn:callActivity id="call" name="Anrop" calledElement="child" />', "RPT", "call")
    parent.user_task("decide", "Igen?")
    parent.gateway("gw", default="flow_done")
    parent.end()
    parent.chain("start", "call", "decide", "gw")
    parent.flow("gw", "call", condition="again")
    parent.flow("gw", "end", flow_id="flow_done")
    model = _model(parent, child)
    wf = CaseWorkflow.start(model, {})
    sizes = []
    for _ in range(10):
        wf.complete(wf.human_tasks()[0].task_id, {})  # the child's task
        wf = _round_trip(model, wf, compact=True)
        wf.complete(wf.human_tasks()[0].task_id, {"again": True})
        wf = _round_trip(model, wf, compact=True)
        sizes.append(len(wf.dump()))
    assert len(wf._wf.subprocesses) == 1  # only the running call
    assert [t.bpmn_id for t in wf.human_tasks()] == ["child_task"]
    assert max(sizes) == min(sizes) or max(sizes) < min(sizes) * 1.1


def test_a_long_linear_process_keeps_no_finished_history() -> None:
    p = Process("linear")
    p.start()
    steps = [p.user_task(f"step_{i}", f"Steg {i}") for i in range(30)]
    p.end()
    p.chain("start", *steps, "end")
    model = _model(p)
    wf = CaseWorkflow.start(model, {})
    sizes = []
    for _ in range(29):
        wf.complete(wf.human_tasks()[0].task_id, {})
        wf = _round_trip(model, wf, compact=True)
        sizes.append(len(wf._wf.tasks))
    # Only the root, the last finished task (its data) and the ready task with its predicted
    # successors remain; without joins in the diagram there is no skeleton to keep.
    assert sizes[-1] <= sizes[0]
    assert [t.bpmn_id for t in wf.human_tasks()] == ["step_29"]


def test_the_join_inputs_of_a_spec_are_never_another_specs() -> None:
    # Specs come and go with the version cache; an answer cached under id(spec) was handed to a new
    # spec that CPython placed at the freed one's address.
    from engine.workflow.compaction import _join_inputs

    joined = _model(_parallel_loop()).spec
    expected = _join_inputs(joined)
    assert expected >= {"task_a", "task_b", "task_c"}

    class Spec:  # a process spec as _join_inputs reads it
        def __init__(self, task_specs: dict[str, Any]) -> None:
            self.task_specs = task_specs

    reused = 0
    for round_no in range(50):
        spec = Spec(dict(joined.task_specs) if round_no % 2 == 0 else {})
        before = id(spec)
        assert _join_inputs(spec) == (expected if round_no % 2 == 0 else frozenset())
        del spec
        reused += id(Spec({})) == before  # CPython does hand out freed addresses again
    assert reused
