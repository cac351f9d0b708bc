"""Turn BPMN documents and forms into a model version ready to store: validated, parsed by
SpiffWorkflow, serialized once, content-hashed."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.spiff.parser.process import VALIDATOR, SpiffBpmnParser
from SpiffWorkflow.spiff.specs.event_definitions import (
    MessageEventDefinition,
    SignalEventDefinition,
)

from engine.errors import InvalidModelError, ModelIssue
from engine.workflow.model import CompiledModel, UserTaskInfo
from engine.workflow.serializer import dump_spec
from engine.workflow.validation import NS, ValidationContext, check_process, lane_for, lane_map, load_form, properties
from engine.workflow.xml_safety import UnsafeXmlError, parse_bpmn_xml


@dataclass(frozen=True)
class CompiledBundle:
    """Everything a model version stores, and the compiled model to cache."""

    process_id: str
    name: str
    main_xml: str
    called_documents: dict[str, str]
    forms: dict[str, Any]
    spec_json: str
    content_hash: str
    model: CompiledModel


def compile_bundle(
    process_id: str,
    documents: Mapping[str, bytes],
    forms: Mapping[str, str | bytes | dict[str, Any]],
    roles: Mapping[str, str],
) -> CompiledBundle:
    """Validate and compile the process ``process_id`` found among ``documents``.

    Args:
        process_id: the id of the process to publish.
        documents: file name -> BPMN XML bytes; the process and every process it calls must be here.
        forms: file name -> JSON Schema (text or parsed).
        roles: casefolded role name or code -> role code, for lane names.

    Raises:
        InvalidModelError: with every issue found; nothing is compiled then.
    """
    issues: list[ModelIssue] = []
    trees: dict[str, etree._Element] = {}
    for filename, data in documents.items():
        try:
            trees[filename] = parse_bpmn_xml(data)
        except UnsafeXmlError as err:
            issues.append(ModelIssue(code="invalid_xml", message=str(err), file=filename))
    if issues:
        raise InvalidModelError(issues)

    processes: dict[str, tuple[str, etree._Element]] = {}
    for filename, root in trees.items():
        for process in root.iterfind("bpmn:process", NS):
            pid = process.get("id") or ""
            if pid in processes:
                where = "två gånger i filen" if processes[pid][0] == filename else "i två filer"
                issues.append(ModelIssue("duplicate_process", f"Process-id '{pid}' finns {where}.", pid, filename))
            processes[pid] = (filename, process)
    if process_id not in processes:
        raise InvalidModelError(
            [ModelIssue("process_not_found", f"Processen '{process_id}' finns inte i filerna.", process_id)]
        )

    # The process and, transitively, every process it calls.
    involved: list[str] = []
    pending = [process_id]
    while pending:
        pid = pending.pop()
        if pid in involved:
            continue
        involved.append(pid)
        filename, process = processes[pid]
        for call in process.iterfind(".//bpmn:callActivity", NS):
            called = call.get("calledElement") or ""
            if called in processes:
                pending.append(called)
            else:
                issues.append(
                    ModelIssue(
                        "called_process_not_found",
                        f"Anropsaktiviteten '{call.get('name') or call.get('id')}' anropar processen "
                        f"'{called}', som inte finns.",
                        call.get("id"),
                        filename,
                    )
                )

    parsed_forms: dict[str, Any] = {}
    form_errors: dict[str, str] = {}
    for filename, raw in forms.items():
        schema, error = load_form(filename, raw)
        if error is not None:
            form_errors[filename] = error
        else:
            parsed_forms[filename] = schema

    variables: set[str] = set()
    for pid in involved:
        filename, process = processes[pid]
        ctx = ValidationContext(
            file=filename, roles=roles, forms={**parsed_forms, **dict.fromkeys(form_errors)}, form_errors=form_errors
        )
        check_process(process, trees[filename], ctx)
        issues.extend(ctx.issues)
        variables |= ctx.variables
    if issues:
        raise InvalidModelError(issues)

    parser = SpiffBpmnParser(validator=VALIDATOR)
    files = sorted({processes[pid][0] for pid in involved})
    try:
        for filename in files:
            parser.add_bpmn_xml(etree.ElementTree(trees[filename]), filename)
        spec = parser.get_spec(process_id)
        subprocess_specs = parser.get_subprocess_specs(process_id)
    except ValidationException as err:
        raise InvalidModelError(
            [ModelIssue("bpmn_invalid", f"BPMN-filen är ogiltig: {err}", getattr(err, "id", None), err.file_name)]
        ) from err

    elements = {pid: {e.get("id"): e for e in processes[pid][1].iter() if e.get("id")} for pid in involved}
    lanes = {pid: lane_map(processes[pid][1]) for pid in involved}
    used_forms: dict[str, Any] = {}
    user_tasks: dict[str, UserTaskInfo] = {}
    signals: set[str] = set()
    messages: set[str] = set()
    for spec_obj in [spec, *subprocess_specs.values()]:
        for task_spec in spec_obj.task_specs.values():
            definition = getattr(task_spec, "event_definition", None)
            if isinstance(definition, SignalEventDefinition):
                signals.add(definition.name)
            elif isinstance(definition, MessageEventDefinition):
                messages.add(definition.name)
            if not getattr(task_spec, "manual", False):
                continue
            element = elements[spec_obj.name].get(task_spec.bpmn_id)
            props = properties(element) if element is not None else {}
            form = props.get("formJsonSchemaFilename") or None
            ui_form = props.get("formUiSchemaFilename") or None
            for name in (form, ui_form):
                if name:
                    used_forms[name] = parsed_forms[name]
            lane_element = lane_for(element, lanes[spec_obj.name]) if element is not None else None
            lane = (lane_element.get("name") or "").strip() if lane_element is not None else None
            info = UserTaskInfo(
                process_id=spec_obj.name,
                bpmn_id=task_spec.bpmn_id,
                name=task_spec.bpmn_name or task_spec.bpmn_id,
                lane=lane,
                role=roles.get(lane.casefold()) if lane else None,
                form=form,
                ui_form=ui_form,
                due_duration=props.get("dueDuration") or None,
                instructions=(task_spec.extensions or {}).get("instructionsForEndUser") or "",
                pdsa_stage=props.get("pdsaStage", "").strip() or None,
            )
            user_tasks[info.key] = info

    main_file, main_process = processes[process_id]
    name = main_process.get("name") or _participant_name(trees[main_file], process_id) or process_id
    main_xml = _text(documents[main_file], trees[main_file])
    called_docs = {pid: _text(documents[processes[pid][0]], trees[processes[pid][0]]) for pid in sorted(involved[1:])}
    digest = hashlib.sha256()
    digest.update(process_id.encode())
    digest.update(documents[main_file])
    for pid in sorted(called_docs):
        digest.update(documents[processes[pid][0]])
    digest.update(json.dumps(used_forms, sort_keys=True).encode())
    process_props = properties(main_process)
    model = CompiledModel(
        process_id=process_id,
        name=name,
        spec=spec,
        subprocess_specs=subprocess_specs,
        user_tasks=user_tasks,
        variables=frozenset(variables),
        signals=frozenset(signals),
        messages=frozenset(messages),
        reminder_offsets=process_props.get("reminderOffsets") or None,
        escalate_after=process_props.get("escalateAfter") or None,
    )
    return CompiledBundle(
        process_id=process_id,
        name=name,
        main_xml=main_xml,
        called_documents=called_docs,
        forms=used_forms,
        spec_json=dump_spec(spec, subprocess_specs),
        content_hash=digest.hexdigest(),
        model=model,
    )


def _participant_name(root: etree._Element, process_id: str) -> str | None:
    for participant in root.iterfind(".//bpmn:participant", NS):
        if participant.get("processRef") == process_id:
            return participant.get("name")
    return None


def _text(data: bytes, tree: etree._Element) -> str:
    """The document as uploaded (so a download gives back the same file), or re-serialized."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return etree.tostring(tree, encoding="unicode")
