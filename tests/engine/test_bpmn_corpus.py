"""Real-world BPMN files (bpmn-js, Camunda Modeler, spiff-arena) through the compiler.

Each executable process of each corpus file must either compile or be refused with an
InvalidModelError whose issues all carry a known code and a message; nothing else may escape.

Which documents a process is compiled with: its own file, plus (transitively) the file that defines
each process it calls, when exactly one corpus file defines that process. The corpus reuses process
ids across unrelated files ("Process_1" in seven files), so passing all 40 files at once would refuse
every process as a duplicate; a call to a process that no file or several files define is left
unresolved and must come back as ``called_process_not_found``.

Run with ``pytest -s`` to see the tally.
"""

from __future__ import annotations

import functools
import json
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from engine.errors import InvalidModelError, ModelIssue
from engine.services.catalogue import DEFAULT_ROLES
from engine.services.drafts import import_model
from engine.services.models import executable_process_ids
from engine.workflow.compiler import CompiledBundle, compile_bundle
from engine.workflow.validation import NS
from engine.workflow.xml_safety import UnsafeXmlError, parse_bpmn_xml
from tests.factories import make_actor

# shared/ sits beside the repository (as on CI); INFORA_SHARED_DIR points elsewhere when it does not.
SHARED = Path(os.environ.get("INFORA_SHARED_DIR") or Path(__file__).resolve().parents[3] / "shared")
CORPUS = SHARED / "bpmn-corpus" / "spiffworkflow-tests"
EXPECTED_FILES = 40
MISSING = "<corpus missing>"

KNOWN_CODES = frozenset(
    {
        # compiler.py / xml_safety.py
        "invalid_xml",
        "duplicate_process",
        "process_not_found",
        "called_process_not_found",
        "bpmn_invalid",
        # validation.py
        "script_task",
        "script",
        "unsupported_element",
        "unsupported_event",
        "invalid_expression",
        "invalid_timer",
        "unknown_role",
        "task_without_lane",
        "missing_form",
        "form_not_found",
        "invalid_form",
        "invalid_due",
        "unknown_service",
        "gateway_default",
        "missing_condition",
        "no_start_event",
        "no_end_event",
        "unreachable",
    }
)


def _roles() -> dict[str, str]:
    """Casefolded code, Swedish and English name -> code, as ``catalogue.role_lookup`` builds it."""
    return {key.casefold(): code for code, sv, en, _ in DEFAULT_ROLES for key in (code, sv, en)}


ROLES = _roles()


def _corpus_files() -> list[str]:
    if not CORPUS.is_dir():
        return [MISSING]
    return sorted(p.name for p in CORPUS.glob("*.bpmn")) or [MISSING]


def _require_corpus() -> None:
    assert CORPUS.is_dir(), (
        f"The BPMN corpus is missing: expected {EXPECTED_FILES} files in {CORPUS} "
        "(it sits beside the repository, in /work/shared/bpmn-corpus/spiffworkflow-tests)."
    )
    count = len(list(CORPUS.glob("*.bpmn")))
    assert count == EXPECTED_FILES, f"{CORPUS} holds {count} .bpmn files, expected {EXPECTED_FILES}."


@functools.cache
def _documents() -> dict[str, bytes]:
    _require_corpus()
    return {p.name: p.read_bytes() for p in sorted(CORPUS.glob("*.bpmn"))}


@functools.cache
def _definers() -> dict[str, tuple[str, ...]]:
    """Process id -> the corpus files that define it (files that do not parse define nothing)."""
    found: dict[str, list[str]] = {}
    for name, data in _documents().items():
        try:
            root = parse_bpmn_xml(data)
        except UnsafeXmlError:
            continue
        for process in root.iterfind("bpmn:process", NS):
            found.setdefault(process.get("id") or "", []).append(name)
    return {pid: tuple(files) for pid, files in found.items()}


def _bundle_files(name: str) -> list[str]:
    """The file plus, transitively, the single file defining each process it calls."""
    files: list[str] = []
    pending = [name]
    while pending:
        current = pending.pop()
        if current in files:
            continue
        files.append(current)
        try:
            root = parse_bpmn_xml(_documents()[current])
        except UnsafeXmlError:
            continue
        for call in root.iterfind(".//bpmn:callActivity", NS):
            definers = _definers().get(call.get("calledElement") or "", ())
            if len(definers) == 1:
                pending.append(definers[0])
    return sorted(files)


@dataclass(frozen=True)
class Outcome:
    """What compiling one process (or reading one file) gave."""

    file: str
    process_id: str | None
    bundle: CompiledBundle | None
    issues: tuple[ModelIssue, ...]

    @property
    def codes(self) -> frozenset[str]:
        return frozenset(i.code for i in self.issues)


@functools.cache
def _outcomes(name: str) -> tuple[Outcome, ...]:
    """Compile every executable process of corpus file ``name``; any other exception escapes."""
    documents = _documents()
    try:
        process_ids = executable_process_ids({name: documents[name]})
    except InvalidModelError as err:
        return (Outcome(name, None, None, tuple(err.issues)),)
    bundle_docs = {f: documents[f] for f in _bundle_files(name)}
    outcomes: list[Outcome] = []
    for pid in process_ids:
        try:
            bundle = compile_bundle(pid, bundle_docs, {}, ROLES)
        except InvalidModelError as err:
            outcomes.append(Outcome(name, pid, None, tuple(err.issues)))
        else:
            outcomes.append(Outcome(name, pid, bundle, ()))
    return tuple(outcomes)


@pytest.mark.parametrize("name", _corpus_files())
def test_corpus_file_compiles_or_is_refused_cleanly(name: str) -> None:
    _require_corpus()
    outcomes = _outcomes(name)
    assert outcomes, f"{name}: no executable process"
    for outcome in outcomes:
        if outcome.bundle is not None:
            bundle = outcome.bundle
            assert bundle.process_id == outcome.process_id
            json.dumps(bundle.model.catalogue())  # what publishing stores
            continue
        assert outcome.issues, f"{name}/{outcome.process_id}: InvalidModelError without issues"
        for issue in outcome.issues:
            assert issue.code in KNOWN_CODES, f"{name}: unknown issue code {issue.code!r}: {issue}"
            assert issue.message.strip(), f"{name}: issue without a message: {issue}"


def _tally() -> tuple[Counter[str], dict[str, list[Outcome]]]:
    """accepted / rejected counts (a rejected process counts once per distinct code), and outcomes by file."""
    tally: Counter[str] = Counter()
    by_file: dict[str, list[Outcome]] = {}
    for name in _documents():
        by_file[name] = list(_outcomes(name))
        for outcome in by_file[name]:
            if outcome.bundle is not None:
                tally["accepted"] += 1
            else:
                tally["rejected"] += 1
                tally.update(f"rejected:{code}" for code in outcome.codes)
    return tally, by_file


def test_corpus_tally() -> None:
    _require_corpus()
    tally, by_file = _tally()
    print(f"\nBPMN corpus ({len(by_file)} files, {tally['accepted'] + tally['rejected']} processes):")
    print(f"  accepted: {tally['accepted']}")
    print(f"  rejected: {tally['rejected']}")
    for key, count in sorted(tally.items(), key=lambda kv: (-kv[1], kv[0])):
        if key.startswith("rejected:"):
            print(f"    {key.removeprefix('rejected:')}: {count}")
    for name, outcomes in by_file.items():
        for o in outcomes:
            verdict = "accepted" if o.bundle is not None else "rejected " + ", ".join(sorted(o.codes))
            print(f"  {name} [{o.process_id}]: {verdict}")

    # Not trivially all-rejected for a wrong reason: these are real BPMN files, refused for what they hold.
    assert tally["rejected:invalid_xml"] == 0
    assert tally["rejected:duplicate_process"] == 0
    assert tally["rejected:process_not_found"] == 0
    assert tally["rejected:bpmn_invalid"] <= 2, "SpiffWorkflow's own refusal should stay the exception"
    assert len([k for k in tally if k.startswith("rejected:")]) >= 8

    def codes_of(name: str) -> set[str]:
        return {code for o in by_file[name] for code in o.codes}

    def rejected(name: str) -> bool:
        return all(o.bundle is None for o in by_file[name])

    for name, data in _documents().items():
        if b"scriptTask" in data:
            assert rejected(name) and "script_task" in codes_of(name), name
        if b"spiffworkflow:preScript>" in data and b"scriptTask" not in data:
            assert rejected(name) and "script" in codes_of(name), name
    for name in ("spiff__error_event_payload.bpmn", "spiff__escalation_event_payload.bpmn"):
        assert "unsupported_event" in codes_of(name), name
    assert "unknown_service" in codes_of("spiff__service_task.bpmn")
    assert "unsupported_element" in codes_of("spiff__business_rule_task.bpmn")
    assert "missing_form" in codes_of("camunda__no_form.bpmn")
    # the call activity resolves into the other file, whose process is then checked too
    parent = by_file["spiff__prescript_postscript_parent.bpmn"]
    assert "script_task" in {code for o in parent for code in o.codes}


def test_accepted_corpus_processes_give_every_human_task_a_role() -> None:
    """A process that compiles must not hold a human task (user, manual or plain task: SpiffWorkflow
    makes all three wait for a person) that no role may do; only admins and the coordinator could."""
    _require_corpus()
    _tally_unused, by_file = _tally()
    roleless = [
        f"{o.file} [{o.process_id}] {task.bpmn_id} ({task.name})"
        for outcomes in by_file.values()
        for o in outcomes
        if o.bundle is not None
        for task in o.bundle.model.user_tasks.values()
        if task.role is None
    ]
    assert roleless == [], "accepted human tasks without a role:\n" + "\n".join(roleless)


def test_corpus_issues_name_their_element() -> None:
    """Every issue about an element says which one (only file-level codes may leave it out), so the
    editor can point at it."""
    _require_corpus()
    _tally_unused, by_file = _tally()
    unnamed = [
        f"{o.file} [{o.process_id}] {i.code}: {i.message}"
        for outcomes in by_file.values()
        for o in outcomes
        for i in o.issues
        if not i.element_id and i.code not in {"invalid_xml", "bpmn_invalid"}
    ]
    assert unnamed == [], "issues without an element id:\n" + "\n".join(unnamed)


def test_every_corpus_file_through_the_workshop_import(published: Session) -> None:
    """Issue 6: each corpus file uploaded as a new model is either taken as a draft (with its
    validation issues, each pinned and coded) or refused with a specific code; nothing else escapes.
    Each upload runs in its own savepoint, as each would be its own request."""
    _require_corpus()
    coordinator = make_actor(published, "corpus.koord", "coordinator")
    tally: Counter[str] = Counter()
    for name, data in _documents().items():
        savepoint = published.begin_nested()
        try:
            draft = import_model(published, coordinator, data, {})
        except InvalidModelError as err:
            assert err.issues and all(i.message.strip() for i in err.issues), name
            tally.update(f"refused:{i.code}" for i in err.issues)
            print(f"  {name}: refused {', '.join(sorted({i.code for i in err.issues}))}")
        else:
            verdict = "clean" if draft.publishable else "with issues"
            tally[f"draft {verdict}"] += 1
            for issue in draft.issues:
                assert issue["code"] in KNOWN_CODES and issue["message"].strip(), (name, issue)
            print(f"  {name}: draft {verdict} {sorted({i['code'] for i in draft.issues})}")
        finally:
            savepoint.rollback()
    print("workshop import tally:", dict(sorted(tally.items())))
    assert sum(tally.values()) >= EXPECTED_FILES
    assert tally["draft clean"] + tally["draft with issues"] >= 20  # most files are single-process BPMN
    assert set(tally) - {"draft clean", "draft with issues"} <= {"refused:process_count", "refused:process_id_clash"}
