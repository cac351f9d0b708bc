"""Engine benchmark (issue 2): task completion and case start through the services on a SQLite
file, SQL statements and transactions per completion, cost and state size over 40 PDSA cycles —
each beside the same operation done in memory with bare SpiffWorkflow.

Run: ``make bench`` (or ``.venv/bin/python bench/engine_bench.py [--rounds N]``). Prints measured
figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.orm import Session, sessionmaker

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from SpiffWorkflow.bpmn import BpmnEvent, BpmnWorkflow  # noqa: E402
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine  # noqa: E402
from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer  # noqa: E402
from SpiffWorkflow.spiff.parser.process import VALIDATOR, SpiffBpmnParser  # noqa: E402
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG  # noqa: E402
from SpiffWorkflow.spiff.specs.event_definitions import SignalEventDefinition  # noqa: E402
from SpiffWorkflow.util.task import TaskState  # noqa: E402

from engine.catalogue.reference import load_reference_data  # noqa: E402
from engine.catalogue.sample_forms import sample_form_data  # noqa: E402
from engine.persistence import Case, TaskIndexRow, Unit  # noqa: E402
from engine.persistence.database import make_engine, make_session_factory, unit_of_work  # noqa: E402
from engine.persistence.schema import upgrade_database  # noqa: E402
from engine.services import (  # noqa: E402
    SYSTEM_ACTOR,
    Actor,
    complete_task,
    fire_case_timers,
    publish_model_version,
    send_signal,
    start_case,
)
from engine.services.models import read_model_directory  # noqa: E402
from engine.services.users import create_user  # noqa: E402
from engine.services.versions import load_version  # noqa: E402
from tests.bpmn_builder import forms as test_forms  # noqa: E402
from tests.bpmn_builder import two_task_loop  # noqa: E402


def ms(ns: float) -> float:
    return ns / 1e6


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Counter:
    """Counts SQL statements and commits on an engine."""

    def __init__(self, engine: Any) -> None:
        self.statements = 0
        self.commits = 0
        self.begins = 0
        event.listen(engine, "before_cursor_execute", self._stmt)
        event.listen(engine, "commit", self._commit)

    def _stmt(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.startswith("BEGIN"):
            self.begins += 1
        else:
            self.statements += 1

    def _commit(self, conn: Any) -> None:
        self.commits += 1

    def reset(self) -> None:
        self.statements = self.commits = self.begins = 0


class Bench:
    def __init__(self, folder: Path) -> None:
        self.engine = make_engine(f"sqlite:///{folder / 'bench.sqlite3'}")
        upgrade_database(self.engine)
        self.factory: sessionmaker[Session] = make_session_factory(self.engine)
        with unit_of_work(self.factory) as s:
            load_reference_data(s)
            user = create_user(s, SYSTEM_ACTOR, username="bench", display_name="Bench", system_role="coordinator")
            self.actor = Actor(user.id, user.username, user.display_name, user.system_role)
            docs, forms = read_model_directory(ROOT / "bpmn")
            for pid in ("pdsa_cycle", "vgr_introduction"):
                publish_model_version(s, SYSTEM_ACTOR, pid, docs, forms)
            publish_model_version(s, SYSTEM_ACTOR, "two_tasks", {"two.bpmn": two_task_loop().xml()}, test_forms())
        self.counter = Counter(self.engine)

    def start(self, process_id: str, **kwargs: Any) -> tuple[int, float]:
        t0 = time.perf_counter_ns()
        with unit_of_work(self.factory) as s:
            case_id = start_case(s, self.actor, process_id=process_id, title="Bench", **kwargs).id
        return case_id, time.perf_counter_ns() - t0

    def ready(self, case_id: int, bpmn_id: str | None = None) -> tuple[str, dict[str, Any]]:
        with unit_of_work(self.factory, write=False) as s:
            query = select(TaskIndexRow).where(TaskIndexRow.case_id == case_id, TaskIndexRow.state == "ready")
            if bpmn_id:
                query = query.where(TaskIndexRow.bpmn_id == bpmn_id)
            row = s.scalars(query.order_by(TaskIndexRow.id)).first()
            assert row is not None, (case_id, bpmn_id)
            case = s.get(Case, case_id)
            assert case is not None
            forms = load_version(s, case.model_version_id).forms
            return row.task_id, sample_form_data(forms[row.form]) if row.form else {}

    def complete(self, task_id: str, data: dict[str, Any]) -> float:
        t0 = time.perf_counter_ns()
        with unit_of_work(self.factory) as s:
            complete_task(s, self.actor, task_id, data)
        return time.perf_counter_ns() - t0

    def state_size(self, case_id: int) -> int:
        with Session(self.engine) as s:
            return len(s.scalars(select(Case.state).where(Case.id == case_id)).one())


class BareScriptEngine(PythonScriptEngine):
    """SpiffWorkflow's default (eval-based) engine; service tasks just return null."""

    def call_service(self, task: Any, **kwargs: Any) -> str:
        return "null"


class Bare:
    """The same operations with bare SpiffWorkflow in memory (its default engine and serializer)."""

    def __init__(self) -> None:
        self.parser = SpiffBpmnParser(validator=VALIDATOR)
        docs, _forms = read_model_directory(ROOT / "bpmn")
        for name, data in docs.items():
            self.parser.add_bpmn_str(data, name)
        self.parser.add_bpmn_str(two_task_loop().xml(), "two.bpmn")
        self.serializer = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(SPIFF_CONFIG))

    def start(self, process_id: str, data: dict[str, Any]) -> tuple[BpmnWorkflow, float]:
        spec, subs = self.parser.get_spec(process_id), self.parser.get_subprocess_specs(process_id)
        t0 = time.perf_counter_ns()
        wf = BpmnWorkflow(spec, subs, script_engine=BareScriptEngine())
        wf.get_next_task(state=TaskState.READY).set_data(**data)
        wf.do_engine_steps()
        return wf, time.perf_counter_ns() - t0

    @staticmethod
    def complete(wf: BpmnWorkflow, data: dict[str, Any]) -> float:
        task = wf.get_tasks(state=TaskState.READY, manual=True)[0]
        t0 = time.perf_counter_ns()
        task.set_data(**data)
        task.run()
        wf.do_engine_steps()
        return time.perf_counter_ns() - t0

    def round_trip(self, wf: BpmnWorkflow) -> tuple[float, int]:
        t0 = time.perf_counter_ns()
        text = self.serializer.serialize_json(wf)
        self.serializer.deserialize_json(text)
        return time.perf_counter_ns() - t0, len(text)


def line(label: str, ours: float, bare: float | None, unit: str = "ms", target: str = "") -> None:
    ratio = f"{ours / bare:7.1f}x" if bare else "       "
    bare_text = f"{bare:9.3f}" if bare is not None else "        –"
    print(f"  {label:<58} {ours:9.3f} {unit}   bare {bare_text} {unit}  ratio {ratio}  {target}")


def measure_loop(bench: Bench, bare: Bare, rounds: int) -> None:
    print(f"\nTwo-user-task model (loop A -> B -> again?), {rounds} completions")
    case_id, _ = bench.start("two_tasks")
    ours: list[float] = []
    counts: list[tuple[int, int, int]] = []
    for _ in range(rounds):
        task_id, _data = bench.ready(case_id)
        bench.counter.reset()
        ours.append(bench.complete(task_id, {"again": True}))
        counts.append((bench.counter.statements, bench.counter.commits, bench.counter.begins))
    wf, _ = bare.start("two_tasks", {})
    bare_times = [bare.complete(wf, {"again": True}) for _ in range(rounds)]
    line(
        "complete a task, p50",
        ms(statistics.median(ours)),
        ms(statistics.median(bare_times)),
        target="(target <= 3 ms)",
    )
    line("complete a task, p95", ms(pct(ours, 0.95)), ms(pct(bare_times, 0.95)))
    stmts = statistics.median(c[0] for c in counts)
    print(
        f"  SQL statements per completion: median {stmts:.0f}, max {max(c[0] for c in counts)} (target <= 10); "
        f"transactions per completion: {max(c[1] for c in counts)} commit, {max(c[2] for c in counts)} BEGIN"
    )
    starts = [bench.start("two_tasks")[1] for _ in range(rounds // 2)]
    bare_starts = [bare.start("two_tasks", {})[1] for _ in range(rounds // 2)]
    line(
        "start a case to its first user task, p50",
        ms(statistics.median(starts)),
        ms(statistics.median(bare_starts)),
        target="(target <= 5 ms)",
    )


def measure_vgr(bench: Bench, bare: Bare, cases: int) -> None:
    print(f"\nVGR model (vgr_introduction, 2 units), {cases} cases walked to the first PDSA cycle")
    data_for = {
        "step_03_rpt_start": {"data_needed": False},
        "step_05_decision": {"decision": "approved"},
        "step_07_implementation_plan": {"already_compliant": False},
    }
    path = [
        "step_01_consultation",
        "signal",
        "step_02_preparation",
        "step_03_rpt_start",
        "step_04_gap_analysis",
        "step_05_decision",
        "step_06_local_anchoring",
        "step_06_local_anchoring",
        "step_07_implementation_plan",
        "step_07_implementation_plan",
        "pdsa_plan",
        "pdsa_plan",
    ]
    with Session(bench.engine) as s:
        units = list(s.scalars(select(Unit.id).order_by(Unit.id).limit(2)))
    ours: list[float] = []
    starts: list[float] = []
    counts: list[int] = []
    for _ in range(cases):
        case_id, started = bench.start("vgr_introduction", unit_ids=units)
        starts.append(started)
        for step in path:
            if step == "signal":
                with unit_of_work(bench.factory) as s:
                    send_signal(s, bench.actor, case_id, "godkand_nationellt")
                continue
            task_id, data = bench.ready(case_id, step)
            data.update(data_for.get(step, {}))
            bench.counter.reset()
            ours.append(bench.complete(task_id, data))
            counts.append(bench.counter.statements)
    # Bare: the same path in memory.
    bare_times: list[float] = []
    bare_starts: list[float] = []
    for _ in range(cases):
        wf, started = bare.start(
            "vgr_introduction", {"units": units, "cycle_duration": "P3M", "follow_up_interval": "P6M"}
        )
        bare_starts.append(started)
        for step in path:
            if step == "signal":
                wf.send_event(BpmnEvent(SignalEventDefinition("godkand_nationellt")))
                wf.do_engine_steps()
                continue
            task = next(t for t in wf.get_tasks(state=TaskState.READY, manual=True) if t.task_spec.bpmn_id == step)
            data = {"again": True, **data_for.get(step, {})}
            t0 = time.perf_counter_ns()
            task.set_data(**data)
            task.run()
            wf.do_engine_steps()
            bare_times.append(time.perf_counter_ns() - t0)
    line(
        "complete a task, p50",
        ms(statistics.median(ours)),
        ms(statistics.median(bare_times)),
        target="(target <= 3 ms)",
    )
    line("complete a task, p95", ms(pct(ours, 0.95)), ms(pct(bare_times, 0.95)))
    print(f"  SQL statements per completion: median {statistics.median(counts):.0f}, max {max(counts)} (target <= 10)")
    line(
        "start a case to its first user task, p50",
        ms(statistics.median(starts)),
        ms(statistics.median(bare_starts)),
        target="(target <= 5 ms)",
    )


def measure_cycles(bench: Bench, bare: Bare, cycles: int) -> None:
    print(f"\nPDSA loop (pdsa_cycle, cycle_duration PT0S so the timer passes at once), {cycles} cycles in one case")
    case_id, _ = bench.start("pdsa_cycle", cycle_duration="PT0S")
    per_cycle: list[list[float]] = []
    for _ in range(cycles):
        times = []
        for step in ("pdsa_plan", "pdsa_do", "pdsa_study", "pdsa_act"):
            if step == "pdsa_study":
                time.sleep(0.001)  # the timer fires strictly after its due time
                with unit_of_work(bench.factory) as s:
                    fire_case_timers(s, case_id)
            task_id, data = bench.ready(case_id, step)
            if step == "pdsa_act":
                data.update({"act_decision": "adapt", "next_cycle_plan": "Nästa cykel"})
            times.append(bench.complete(task_id, data))
        per_cycle.append(times)
    window = max(1, min(5, cycles // 4))  # medians over the first and the last cycles (4 tasks each)
    first = statistics.median(t for times in per_cycle[:window] for t in times)
    last = statistics.median(t for times in per_cycle[-window:] for t in times)
    size = bench.state_size(case_id)
    wf, _ = bare.start("pdsa_cycle", {"cycle_duration": "PT0S"})
    bare_cycle: list[list[float]] = []
    for _ in range(cycles):
        times = []
        for step in ("pdsa_plan", "pdsa_do", "pdsa_study", "pdsa_act"):
            if step == "pdsa_study":
                time.sleep(0.001)
                wf.refresh_timers()
                wf.do_engine_steps()
            times.append(bare.complete(wf, {"act_decision": "adapt"}))
        bare_cycle.append(times)
    round_trip, bare_size = bare.round_trip(wf)
    bare_first = statistics.median(t for times in bare_cycle[:window] for t in times)
    bare_last = statistics.median(t for times in bare_cycle[-window:] for t in times)
    line(f"complete a task in cycles 1-{window}, median", ms(first), ms(bare_first))
    line(f"complete a task in cycles {cycles - window + 1}-{cycles}, median", ms(last), ms(bare_last))
    print(
        f"  cost after {cycles} cycles / after 1 cycle: {last / first:.2f} (target <= 2.0); "
        f"bare SpiffWorkflow in memory: {bare_last / bare_first:.2f}"
    )
    print(
        f"  stored state after {cycles} cycles: {size / 1024:.1f} KiB (target < 1024 KiB); bare SpiffWorkflow document "
        f"(spec included): {bare_size / 1024:.1f} KiB, serialize+deserialize {ms(round_trip):.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=400)
    parser.add_argument("--cases", type=int, default=20)
    parser.add_argument("--cycles", type=int, default=40)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        bench = Bench(Path(folder))
        bare = Bare()
        print("Infora engine benchmark: SQLite file database (WAL), one process, times per operation incl. commit")
        measure_loop(bench, bare, args.rounds)
        measure_vgr(bench, bare, args.cases)
        measure_cycles(bench, bare, args.cycles)
        bench.engine.dispose()


if __name__ == "__main__":
    main()
