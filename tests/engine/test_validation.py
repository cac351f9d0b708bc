"""Publish-time validation: one small diagram per rule, each breaking exactly that rule; XML attacks
and junk refused as ``invalid_xml``; the shipped models compile cleanly with the expected catalogue.

The tests in the last section are regressions for bugs found while these tests were written (each
failed against the first version of the rules).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from engine.errors import InvalidModelError, ModelIssue
from engine.services.catalogue import DEFAULT_ROLES
from engine.services.models import executable_process_ids, read_model_directory
from engine.workdays import add_duration
from engine.workflow.compiler import CompiledBundle, compile_bundle
from engine.workflow.xml_safety import MAX_DOCUMENT_BYTES
from tests.bpmn_builder import HEADER, SIMPLE_FORM, Process, forms, two_task_loop

MODELS_DIR = Path(__file__).resolve().parents[2] / "bpmn"
SHIPPED_PROCESSES = {
    "kronoberg_introduction",
    "kronoberg_unit",
    "pdsa_cycle",
    "skane_lag",
    "skane_unit",
    "vgr_introduction",
    "vgr_unit",
}


def _roles() -> dict[str, str]:
    """Casefolded code, Swedish and English name -> code, as ``catalogue.role_lookup`` builds it."""
    lookup: dict[str, str] = {}
    for code, name_sv, name_en, _description in DEFAULT_ROLES:
        for key in (code, name_sv, name_en):
            lookup[key.casefold()] = code
    return lookup


ROLES = _roles()


def _compile(
    process: Process | bytes,
    form_map: Mapping[str, str | bytes | dict[str, Any]] | None = None,
    pid: str = "p",
) -> CompiledBundle:
    xml = process if isinstance(process, bytes) else process.xml()
    return compile_bundle(pid, {"model.bpmn": xml}, forms() if form_map is None else form_map, ROLES)


def _issues(
    process: Process | bytes,
    form_map: Mapping[str, str | bytes | dict[str, Any]] | None = None,
    pid: str = "p",
) -> list[ModelIssue]:
    with pytest.raises(InvalidModelError) as caught:
        _compile(process, form_map, pid)
    return caught.value.issues


def _single(issues: list[ModelIssue], code: str, element_id: str | None, phrase: str) -> ModelIssue:
    """Assert that ``code`` is the only kind of issue, that it names ``element_id`` and says ``phrase``."""
    assert {i.code for i in issues} == {code}, issues
    matching = [i for i in issues if i.element_id == element_id]
    assert matching, f"no {code} issue for {element_id!r}: {issues}"
    assert phrase in matching[0].message, matching[0].message
    return matching[0]


def _lane_id(process: Process, lane_name: str) -> str:
    """The id the builder gives the lane called ``lane_name``."""
    return f"lane_{list(process.lanes).index(lane_name)}"


def _linear(pid: str = "p") -> Process:
    """start -> task_a -> end, all in lane RPT."""
    p = Process(pid)
    p.start()
    p.user_task("task_a", "Uppgift A")
    p.end()
    p.chain("start", "task_a", "end")
    return p


def _decision(condition: str, pid: str = "p") -> Process:
    """start -> task_a -> gateway -> (condition) task_b -> end, default -> end."""
    p = Process(pid)
    p.start()
    p.user_task("task_a", "Uppgift A")
    p.gateway("gw", default="flow_default")
    p.user_task("task_b", "Uppgift B")
    p.end()
    p.chain("start", "task_a", "gw")
    p.flow("gw", "task_b", condition=condition, flow_id="flow_cond")
    p.flow("gw", "end", flow_id="flow_default")
    p.flow("task_b", "end")
    return p


def _with_node(xml: str, node_id: str, lane: str | None = "RPT", pid: str = "p") -> Process:
    """start -> <raw node> -> end."""
    p = Process(pid)
    p.start()
    p.raw(xml, lane, node_id)
    p.end()
    p.chain("start", node_id, "end")
    return p


def _user_task_xml(task_id: str, extension: str) -> str:
    return (
        f'<bpmn:userTask id="{task_id}" name="Skriv"><bpmn:extensionElements><spiffworkflow:properties>'
        '<spiffworkflow:property name="formJsonSchemaFilename" value="simple.schema.json" />'
        f"</spiffworkflow:properties>{extension}</bpmn:extensionElements></bpmn:userTask>"
    )


def _service_task_xml(task_id: str, operator: str, parameters: str = "") -> str:
    return (
        f'<bpmn:serviceTask id="{task_id}" name="Tjänst"><bpmn:extensionElements>'
        f'<spiffworkflow:serviceTaskOperator id="{operator}"><spiffworkflow:parameters>{parameters}'
        "</spiffworkflow:parameters></spiffworkflow:serviceTaskOperator></bpmn:extensionElements></bpmn:serviceTask>"
    )


def _definitions(body: str, pid: str = "p", extra: str = "") -> bytes:
    """A document with one executable process whose children are ``body``."""
    return (
        HEADER.format(pid=pid)
        + extra
        + f'<bpmn:process id="{pid}" name="Test" isExecutable="true">{body}</bpmn:process></bpmn:definitions>'
    ).encode()


# --------------------------------------------------------------------------------------------------
# A clean diagram


def test_clean_diagram_compiles() -> None:
    bundle = _compile(two_task_loop("p"))
    assert bundle.process_id == "p"
    assert bundle.name == "Två uppgifter"
    tasks = bundle.model.user_tasks
    assert sorted(tasks) == ["p:task_a", "p:task_b"]
    assert {t.role for t in tasks.values()} == {"rpt"}
    assert {t.form for t in tasks.values()} == {"simple.schema.json"}
    assert bundle.model.variables == frozenset({"again"})
    assert bundle.forms == {"simple.schema.json": SIMPLE_FORM}
    json.dumps(bundle.model.catalogue())


def test_clean_diagram_with_timer_service_task_and_due_compiles() -> None:
    p = Process("p")
    p.start()
    p.user_task("task_a", "Uppgift A", due="P14D")
    p.timer("wait", "P3M")
    p.raw(
        _service_task_xml(
            "set_phase",
            "set_case_phase",
            '<spiffworkflow:parameter id="phase" type="str" value="&quot;introducerad&quot;" />',
        ),
        "RPT",
        "set_phase",
    )
    p.end()
    p.chain("start", "task_a", "wait", "set_phase", "end")
    bundle = _compile(p)
    assert bundle.model.user_tasks["p:task_a"].due_duration == "P14D"


# --------------------------------------------------------------------------------------------------
# One rule at a time


def test_script_task() -> None:
    p = _with_node(
        '<bpmn:scriptTask id="run_code" name="Kör kod"><bpmn:script>x = 1</bpmn:script></bpmn:scriptTask>', "run_code"
    )
    _single(_issues(p), "script_task", "run_code", "Skriptuppgifter är inte tillåtna")


@pytest.mark.parametrize(("tag", "phrase"), [("preScript", "Förskript"), ("postScript", "Efterskript")])
def test_pre_and_post_script(tag: str, phrase: str) -> None:
    xml = _user_task_xml("task_s", f"<spiffworkflow:{tag}>import os</spiffworkflow:{tag}>")
    issue = _single(_issues(_with_node(xml, "task_s")), "script", "task_s", phrase)
    assert "inte tillåtna" in issue.message


def test_exec_style_call_in_gateway_condition() -> None:
    issue = _single(_issues(_decision("__import__('os')")), "invalid_expression", "flow_cond", "villkoret")
    assert "'__import__' är inte tillåten" in issue.message


def test_exec_style_call_in_timer() -> None:
    p = Process("p")
    p.start()
    p.timer("wait", "__import__('os').system('id')")
    p.end()
    p.chain("start", "wait", "end")
    issue = _single(_issues(p), "invalid_expression", "wait", "timern 'Vänta'")
    assert "inte tillåten" in issue.message


def test_attribute_walking_in_condition() -> None:
    issues = _issues(_decision("().__class__.__mro__[1].__subclasses__()"))
    issue = _single(issues, "invalid_expression", "flow_cond", "Attributåtkomst")
    assert "'.__" in issue.message


def test_attribute_walking_simple() -> None:
    _single(_issues(_decision("().__class__")), "invalid_expression", "flow_cond", "Attributåtkomst ('.__class__')")


def test_unknown_lane_role() -> None:
    p = Process("p")
    p.start()
    p.user_task("task_a", "Uppgift A", lane="Chefen")
    p.end()
    p.chain("start", "task_a", "end")
    issue = _single(_issues(p), "unknown_role", _lane_id(p, "Chefen"), "Lanen 'Chefen' är ingen känd roll")
    assert "rpt" in issue.message  # the known roles are listed


def test_lane_matches_role_by_code_swedish_and_english_name_in_any_case() -> None:
    for lane in ("lokal_verksamhet", "LOKAL VERKSAMHET", "Local unit"):
        p = Process("p")
        p.start()
        p.user_task("task_a", "Uppgift A", lane=lane)
        p.end()
        p.chain("start", "task_a", "end")
        assert _compile(p).model.user_tasks["p:task_a"].role == "lokal_verksamhet", lane


def test_user_task_without_lane() -> None:
    p = Process("p")
    p.start()
    p.user_task("task_a", "Uppgift A", lane=None)
    p.end()
    p.chain("start", "task_a", "end")
    _single(_issues(p), "task_without_lane", "task_a", "ligger inte i någon lane")


def test_user_task_without_form() -> None:
    p = Process("p")
    p.start()
    p.user_task("task_a", "Uppgift A", form=None)
    p.end()
    p.chain("start", "task_a", "end")
    _single(_issues(p), "missing_form", "task_a", "saknar formulär")


def test_form_file_not_found() -> None:
    p = Process("p")
    p.start()
    p.user_task("task_a", "Uppgift A", form="saknas.schema.json")
    p.end()
    p.chain("start", "task_a", "end")
    _single(_issues(p), "form_not_found", "task_a", "Formuläret 'saknas.schema.json' finns inte")


@pytest.mark.parametrize(
    ("raw", "phrase"),
    [
        ('{"type": "object", ', "inte giltig JSON"),
        (b"\xff\xfe\x00", "inte giltig JSON"),
        ("[1, 2]", "JSON-objekt"),
        ({"type": 12}, "inte ett giltigt JSON Schema"),
        ('{"type": "object", "properties": {"a": {"minLength": "tio"}}}', "inte ett giltigt JSON Schema"),
    ],
    ids=["truncated", "binary", "array", "bad-type", "bad-keyword"],
)
def test_invalid_form(raw: str | bytes | dict[str, Any], phrase: str) -> None:
    issue = _single(_issues(_linear(), {"simple.schema.json": raw}), "invalid_form", "task_a", phrase)
    assert "Formuläret 'simple.schema.json' är ogiltigt" in issue.message


@pytest.mark.parametrize("due", ["14 dagar", "P", "PT", "R3/P1W", "2026-12-31", "-P1D"])
def test_invalid_due_duration(due: str) -> None:
    p = Process("p")
    p.start()
    p.user_task("task_a", "Uppgift A", due=due)
    p.end()
    p.chain("start", "task_a", "end")
    _single(_issues(p), "invalid_due", "task_a", f"Förfallotiden '{due}' är ingen ISO 8601-tidslängd")


def test_unknown_service_operator() -> None:
    xml = _service_task_xml(
        "svc", "shell/exec", '<spiffworkflow:parameter id="cmd" type="str" value="&quot;id&quot;" />'
    )
    issue = _single(_issues(_with_node(xml, "svc")), "unknown_service", "svc", "Tjänsten 'shell/exec' finns inte")
    assert "set_case_phase" in issue.message  # the available services are listed


def test_service_task_without_operator() -> None:
    p = _with_node('<bpmn:serviceTask id="svc" name="Tjänst" />', "svc")
    _single(_issues(p), "unknown_service", "svc", "anger ingen tjänst")


def test_exclusive_gateway_without_default() -> None:
    p = Process("p")
    p.start()
    p.gateway("gw")
    p.end("end_yes")
    p.end("end_no")
    p.chain("start", "gw")
    p.flow("gw", "end_yes", condition="x == 1")
    p.flow("gw", "end_no", condition="x != 1")
    _single(_issues(p), "gateway_default", "gw", "saknar standardflöde")


def test_non_default_flow_without_condition() -> None:
    p = Process("p")
    p.start()
    p.gateway("gw", default="flow_default")
    p.end("end_a")
    p.end("end_b")
    p.chain("start", "gw")
    p.flow("gw", "end_a", flow_id="flow_bare")
    p.flow("gw", "end_b", flow_id="flow_default")
    _single(_issues(p), "missing_condition", "flow_bare", "saknar villkor")


def test_unreachable_element() -> None:
    p = _linear()
    p.user_task("orphan", "Föräldralös")
    _single(_issues(p), "unreachable", "orphan", "'Föräldralös' kan inte nås")


def test_no_end_event() -> None:
    p = Process("p", name="Utan slut")
    p.start()
    p.user_task("task_a", "Uppgift A")
    p.flow("start", "task_a")
    _single(_issues(p), "no_end_event", "p", "'Utan slut' saknar sluthändelse")


def test_no_start_event() -> None:
    p = Process("p", name="Utan start")
    p.user_task("task_a", "Uppgift A")
    p.end()
    p.flow("task_a", "end")
    _single(_issues(p), "no_start_event", "p", "'Utan start' saknar starthändelse")


@pytest.mark.parametrize(
    ("xml", "phrase"),
    [
        ('<bpmn:sendTask id="odd" name="Skicka" />', "Sändande uppgifter stöds inte"),
        ('<bpmn:receiveTask id="odd" name="Ta emot" />', "Mottagande uppgifter stöds inte"),
        ('<bpmn:complexGateway id="odd" />', "Komplexa gateways stöds inte"),
        ('<bpmn:businessRuleTask id="odd" />', "Beslutstabeller (DMN) stöds inte"),
        ('<bpmn:transaction id="odd" />', "Transaktioner stöds inte"),
    ],
    ids=["sendTask", "receiveTask", "complexGateway", "businessRuleTask", "transaction"],
)
def test_unsupported_element(xml: str, phrase: str) -> None:
    _single(_issues(_with_node(xml, "odd")), "unsupported_element", "odd", phrase)


def test_event_subprocess_unsupported() -> None:
    p = _linear()
    p.raw(
        '<bpmn:subProcess id="evsub" triggeredByEvent="true"><bpmn:startEvent id="evsub_start">'
        '<bpmn:signalEventDefinition signalRef="sig" /></bpmn:startEvent><bpmn:endEvent id="evsub_end" />'
        '<bpmn:sequenceFlow id="evsub_flow" sourceRef="evsub_start" targetRef="evsub_end" /></bpmn:subProcess>',
        None,
        "evsub",
    )
    p.extra.append('<bpmn:signal id="sig" name="stopp" />')
    issues = [i for i in _issues(p) if i.code == "unsupported_element"]
    assert [i.element_id for i in issues] == ["evsub"], issues
    assert "Händelsestyrda delprocesser stöds inte" in issues[0].message


@pytest.mark.parametrize("kind", ["error", "escalation", "conditional", "compensate", "link"])
def test_unsupported_event_definition(kind: str) -> None:
    p = _linear()
    p.raw(
        f'<bpmn:boundaryEvent id="catch" attachedToRef="task_a"><bpmn:{kind}EventDefinition /></bpmn:boundaryEvent>',
        "RPT",
        "catch",
    )
    p.end("end_caught")
    p.flow("catch", "end_caught")
    _single(_issues(p), "unsupported_event", "catch", f"Händelsetypen '{kind}' stöds inte")


def test_error_end_event_unsupported() -> None:
    p = Process("p")
    p.start()
    p.raw('<bpmn:endEvent id="fail"><bpmn:errorEventDefinition /></bpmn:endEvent>', "RPT", "fail")
    p.flow("start", "fail")
    _single(_issues(p), "unsupported_event", "fail", "Händelsetypen 'error' stöds inte")


def test_call_activity_to_missing_process() -> None:
    xml = '<bpmn:callActivity id="call" name="Anropa" calledElement="finns_inte" />'
    _single(_issues(_with_node(xml, "call")), "called_process_not_found", "call", "anropar processen 'finns_inte'")


def test_call_activity_resolves_process_in_other_file() -> None:
    child = _linear("child")
    parent = _with_node('<bpmn:callActivity id="call" name="Anropa" calledElement="child" />', "call", pid="parent")
    bundle = compile_bundle("parent", {"parent.bpmn": parent.xml(), "child.bpmn": child.xml()}, forms(), ROLES)
    assert set(bundle.called_documents) == {"child"}
    assert "child:task_a" in bundle.model.user_tasks


def test_process_not_in_files() -> None:
    issues = _issues(_linear(), pid="nope")
    issue = _single(issues, "process_not_found", "nope", "Processen 'nope' finns inte")
    assert issue.file is None


def test_duplicate_process_id_in_two_files() -> None:
    with pytest.raises(InvalidModelError) as caught:
        compile_bundle("p", {"a.bpmn": _linear().xml(), "b.bpmn": _linear().xml()}, forms(), ROLES)
    issue = _single(caught.value.issues, "duplicate_process", "p", "Process-id 'p' finns i två filer")
    assert issue.file == "b.bpmn"


def test_issues_name_their_file() -> None:
    p = _linear()
    p.user_task("orphan", "Föräldralös")
    with pytest.raises(InvalidModelError) as caught:
        compile_bundle("p", {"min_modell.bpmn": p.xml()}, forms(), ROLES)
    assert [i.file for i in caught.value.issues] == ["min_modell.bpmn"]
    assert "orphan" in str(caught.value)


# --------------------------------------------------------------------------------------------------
# XML attacks and junk: always invalid_xml with a clear message, never another exception

_BPMN_NS = 'xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"'


def _billion_laughs() -> bytes:
    entities = ['<!ENTITY lol0 "lol">'] + [f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)]
    return (
        '<?xml version="1.0"?>\n<!DOCTYPE lolz [\n' + "\n".join(entities) + "\n]>\n"
        f'<bpmn:definitions {_BPMN_NS}><bpmn:process id="p" name="&lol9;" isExecutable="true">'
        "<bpmn:documentation>&lol9;</bpmn:documentation></bpmn:process></bpmn:definitions>"
    ).encode()


def _oversized() -> bytes:
    """A well-formed, otherwise valid document just over the size limit."""
    xml = _linear().xml()
    padding = b"<!--" + b"x" * (MAX_DOCUMENT_BYTES - len(xml)) + b"-->"
    data = xml.replace(b"<bpmn:process", padding + b"<bpmn:process", 1)
    assert len(data) > MAX_DOCUMENT_BYTES
    return data


JUNK: dict[str, tuple[bytes, str]] = {
    "malformed": (_linear().xml()[:-30], "inte giltig XML"),
    "unclosed-tag": (b"<bpmn:definitions", "inte giltig XML"),
    "xxe-in-attribute": (
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        + f'<bpmn:definitions {_BPMN_NS}><bpmn:process id="p" name="&xxe;" isExecutable="true"/>'.encode()
        + b"</bpmn:definitions>",
        "DTD",
    ),
    "xxe-in-text": (
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        + f'<bpmn:definitions {_BPMN_NS}><bpmn:process id="p"><bpmn:documentation>&xxe;'.encode()
        + b"</bpmn:documentation></bpmn:process></bpmn:definitions>",
        "DTD",
    ),
    "external-dtd": (
        b'<?xml version="1.0"?><!DOCTYPE bpmn:definitions SYSTEM "http://127.0.0.1:9/evil.dtd">'
        + f"<bpmn:definitions {_BPMN_NS}/>".encode(),
        "DTD",
    ),
    "parameter-entity": (
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY % remote SYSTEM "http://127.0.0.1:9/x.dtd"> %remote;]>'
        + f"<bpmn:definitions {_BPMN_NS}/>".encode(),
        "DTD",
    ),
    "billion-laughs": (_billion_laughs(), "DTD"),
    "oversized": (_oversized(), "för stor"),
    "svg": (b'<svg xmlns="http://www.w3.org/2000/svg"><rect width="1" height="1"/></svg>', "inget BPMN 2.0-dokument"),
    "definitions-without-namespace": (b"<definitions><process id='p'/></definitions>", "inget BPMN 2.0-dokument"),
    "empty": (b"", "inte giltig XML"),
    "whitespace": (b"   \n  ", "inte giltig XML"),
    "binary": (bytes(range(256)) * 8, "inte giltig XML"),
    "json": (b'{"bpmn": true}', "inte giltig XML"),
    "too-deep": (
        f"<bpmn:definitions {_BPMN_NS}>".encode() + b"<a>" * 5000 + b"</a>" * 5000 + b"</bpmn:definitions>",
        "inte giltig XML",
    ),
}


@pytest.mark.parametrize("name", list(JUNK))
def test_xml_attacks_and_junk_are_invalid_xml(name: str) -> None:
    data, phrase = JUNK[name]
    started = time.perf_counter()
    with pytest.raises(InvalidModelError) as caught:
        compile_bundle("p", {"upload.bpmn": data}, forms(), ROLES)
    elapsed = time.perf_counter() - started
    assert elapsed < 0.5, f"{name} took {elapsed:.2f} s"
    [issue] = caught.value.issues
    assert issue.code == "invalid_xml"
    assert issue.file == "upload.bpmn"
    assert phrase in issue.message, issue.message
    assert "passwd" not in issue.message and "lollol" not in issue.message


def test_xml_junk_next_to_a_valid_document_is_still_refused() -> None:
    with pytest.raises(InvalidModelError) as caught:
        compile_bundle("p", {"ok.bpmn": _linear().xml(), "bad.bpmn": _billion_laughs()}, forms(), ROLES)
    assert [(i.code, i.file) for i in caught.value.issues] == [("invalid_xml", "bad.bpmn")]


def test_executable_process_ids_refuses_junk_as_invalid_xml() -> None:
    with pytest.raises(InvalidModelError) as caught:
        executable_process_ids({"x.bpmn": _billion_laughs()})
    assert [i.code for i in caught.value.issues] == ["invalid_xml"]


def test_document_at_the_size_limit_is_not_refused_for_size() -> None:
    data = _oversized()
    data = data.replace(b"x" * (len(data) - MAX_DOCUMENT_BYTES), b"", 1)
    assert len(data) == MAX_DOCUMENT_BYTES
    assert _compile(data).process_id == "p"


@pytest.mark.parametrize("declared", [True, False], ids=["declared", "bom-only"])
def test_utf16_document_does_not_crash(declared: bool) -> None:
    text = _linear().xml().decode("utf-8")
    text = text.replace('encoding="UTF-8"', 'encoding="UTF-16"') if declared else text.split("\n", 1)[1]
    data = text.encode("utf-16")
    try:
        bundle = _compile(data)
    except InvalidModelError as err:  # refusing it is fine too, but only as invalid_xml
        assert [i.code for i in err.issues] == ["invalid_xml"]
    else:
        assert bundle.model.user_tasks["p:task_a"].role == "rpt"
        assert 'id="task_a"' in bundle.main_xml


# --------------------------------------------------------------------------------------------------
# The shipped models


@pytest.fixture(scope="module")
def shipped() -> tuple[dict[str, bytes], dict[str, str]]:
    return read_model_directory(MODELS_DIR)


@pytest.fixture(scope="module")
def shipped_bundles(shipped: tuple[dict[str, bytes], dict[str, str]]) -> dict[str, CompiledBundle]:
    documents, form_map = shipped
    return {pid: compile_bundle(pid, documents, form_map, ROLES) for pid in executable_process_ids(documents)}


def test_shipped_models_compile_without_issues(shipped_bundles: dict[str, CompiledBundle]) -> None:
    assert set(shipped_bundles) == SHIPPED_PROCESSES
    for pid, bundle in shipped_bundles.items():
        assert bundle.process_id == pid
        assert bundle.name and bundle.name != pid
        catalogue = bundle.model.catalogue()
        json.dumps(catalogue)
        for task in bundle.model.user_tasks.values():
            assert task.role is not None, task
            assert task.form in bundle.forms, task
            add_duration(datetime(2026, 1, 1, tzinfo=UTC), task.due_duration or "P0D")


def _tasks(bundle: CompiledBundle) -> dict[str, str | None]:
    return {key: task.role for key, task in bundle.model.user_tasks.items()}


def test_shipped_catalogues_list_user_tasks_with_roles(shipped_bundles: dict[str, CompiledBundle]) -> None:
    pdsa = {f"pdsa_cycle:pdsa_{step}": "lokal_verksamhet" for step in ("plan", "do", "study", "act")}
    assert _tasks(shipped_bundles["pdsa_cycle"]) == pdsa
    vgr = _tasks(shipped_bundles["vgr_introduction"])
    assert vgr["vgr_introduction:step_01_consultation"] == "kunskapsstyrning"
    assert vgr["vgr_introduction:step_02_preparation"] == "samordningsrad"
    assert vgr["vgr_introduction:step_05_decision"] == "samordningsrad"
    assert vgr["vgr_unit:step_06_local_anchoring"] == "inforandeansvarig"
    assert vgr["vgr_unit:step_10_learning"] == "rpt"
    assert pdsa.items() <= vgr.items()  # the called processes' tasks are in the caller's catalogue
    assert _tasks(shipped_bundles["skane_lag"])["skane_lag:lag_analysis"] == "lag"
    assert _tasks(shipped_bundles["skane_unit"]) == {"skane_unit:unit_introduction": "lokal_verksamhet", **pdsa}
    consultation = shipped_bundles["vgr_introduction"].model.user_tasks["vgr_introduction:step_01_consultation"]
    assert consultation.form == "vgr_consultation.schema.json"
    assert consultation.due_duration == "P30D"


def test_shipped_called_documents(shipped_bundles: dict[str, CompiledBundle]) -> None:
    assert set(shipped_bundles["vgr_introduction"].called_documents) == {"vgr_unit", "pdsa_cycle"}
    assert set(shipped_bundles["skane_unit"].called_documents) == {"pdsa_cycle"}
    assert shipped_bundles["pdsa_cycle"].called_documents == {}


def test_model_variables_hold_gateway_variables_not_form_fields(
    shipped_bundles: dict[str, CompiledBundle],
) -> None:
    variables = shipped_bundles["vgr_introduction"].model.variables
    assert {"data_needed", "decision", "already_compliant", "aim_met", "act_decision"} <= variables
    for field_only in ("consultation_response", "proposal_link", "motivation", "document_type", "learnt"):
        assert field_only not in variables
    assert shipped_bundles["pdsa_cycle"].model.variables == {"act_decision", "cycle_duration"}
    assert "next_cycle_plan" not in shipped_bundles["pdsa_cycle"].model.variables


def test_content_hash_is_stable_and_tracks_used_forms(shipped: tuple[dict[str, bytes], dict[str, str]]) -> None:
    documents, form_map = shipped
    first = compile_bundle("vgr_introduction", documents, form_map, ROLES).content_hash
    again = compile_bundle("vgr_introduction", dict(documents), dict(form_map), ROLES).content_hash
    assert first == again

    def changed(name: str) -> dict[str, str]:
        schema = json.loads(form_map[name])
        schema["title"] = schema.get("title", "") + " (ändrad)"
        return {**form_map, name: json.dumps(schema)}

    own_form = compile_bundle("vgr_introduction", documents, changed("vgr_consultation.schema.json"), ROLES)
    called_form = compile_bundle("vgr_introduction", documents, changed("pdsa_plan.schema.json"), ROLES)
    unused_form = compile_bundle("vgr_introduction", documents, changed("skane_analysis.schema.json"), ROLES)
    assert own_form.content_hash != first
    assert called_form.content_hash != first
    assert unused_form.content_hash == first

    called_doc = {**documents, "pdsa_cycle.bpmn": documents["pdsa_cycle.bpmn"].replace(b"P14D", b"P15D", 1)}
    assert compile_bundle("vgr_introduction", called_doc, form_map, ROLES).content_hash != first


# --------------------------------------------------------------------------------------------------
# Regressions: bugs found while writing these tests


def test_subprocess_with_incoming_outgoing_refs_is_supported() -> None:
    """bpmn-js and Camunda Modeler write <bpmn:incoming>/<bpmn:outgoing> into every flow node. On an
    embedded subProcess they are reported as unsupported elements (with no element id), because
    rule_element_types lists the subProcess's own children as if they were flow elements."""
    p = Process("p")
    p.start()
    p.raw(
        '<bpmn:subProcess id="sub" name="Del"><bpmn:incoming>flow_in</bpmn:incoming>'
        '<bpmn:outgoing>flow_out</bpmn:outgoing><bpmn:startEvent id="sub_start" /><bpmn:endEvent id="sub_end" />'
        '<bpmn:sequenceFlow id="sub_flow" sourceRef="sub_start" targetRef="sub_end" /></bpmn:subProcess>',
        "RPT",
        "sub",
    )
    p.end()
    p.flow("start", "sub", flow_id="flow_in")
    p.flow("sub", "end", flow_id="flow_out")
    assert _compile(p).process_id == "p"


def test_multi_instance_subprocess_is_supported() -> None:
    """A multi-instance subProcess is refused: its <bpmn:multiInstanceLoopCharacteristics> child is
    reported as the unsupported element type 'multiInstanceLoopCharacteristics' with no element id.
    A multi-instance task (which the shipped models use) is accepted."""
    p = Process("p")
    p.start()
    p.raw(
        '<bpmn:subProcess id="sub" name="Del"><bpmn:multiInstanceLoopCharacteristics>'
        "<bpmn:loopCardinality>3</bpmn:loopCardinality></bpmn:multiInstanceLoopCharacteristics>"
        '<bpmn:startEvent id="sub_start" /><bpmn:endEvent id="sub_end" />'
        '<bpmn:sequenceFlow id="sub_flow" sourceRef="sub_start" targetRef="sub_end" /></bpmn:subProcess>',
        "RPT",
        "sub",
    )
    p.end()
    p.chain("start", "sub", "end")
    assert _compile(p).process_id == "p"


def test_padded_form_filename_is_an_issue_not_a_crash() -> None:
    """The rule strips the form file name, the compiler does not: ' simple.schema.json ' passes
    validation and then compile_bundle dies with KeyError. It should either compile (stripped) or
    raise InvalidModelError."""
    p = _linear()
    p.nodes[1] = p.nodes[1].replace('value="simple.schema.json"', 'value=" simple.schema.json "')
    try:
        bundle = _compile(p)
    except InvalidModelError as err:
        assert {i.code for i in err.issues} <= {"form_not_found"}
    else:
        assert bundle.model.user_tasks["p:task_a"].form == "simple.schema.json"


def test_padded_lane_name_gives_the_role() -> None:
    """The rule accepts the lane ' RPT ' (it strips), but the compiler looks up ' rpt ' and stores
    role None: a task nobody may do."""
    p = Process("p")
    p.start()
    p.user_task("task_a", "Uppgift A", lane=" RPT ")
    p.end()
    p.chain("start", "task_a", "end")
    assert _compile(p).model.user_tasks["p:task_a"].role == "rpt"


def test_padded_due_duration_is_usable() -> None:
    """The rule accepts ' P14D ' (it strips), but the compiler stores it unstripped and
    add_duration (used for every due date) raises 'Invalid duration' on it when the task is ready."""
    p = Process("p")
    p.start()
    p.user_task("task_a", "Uppgift A", due=" P14D ")
    p.end()
    p.chain("start", "task_a", "end")
    due = _compile(p).model.user_tasks["p:task_a"].due_duration
    assert due is not None
    assert add_duration(datetime(2026, 1, 1, tzinfo=UTC), due) == datetime(2026, 1, 15, tzinfo=UTC)


def test_user_task_in_subprocess_outside_any_lane() -> None:
    """task_without_lane only looks at tasks directly in the process; a user task in an embedded
    subProcess that is in no lane compiles with role None."""
    p = Process("p")
    p.start()
    p.raw(
        '<bpmn:subProcess id="sub" name="Del"><bpmn:startEvent id="sub_start" />'
        + _user_task_xml("inner", "")
        + '<bpmn:endEvent id="sub_end" /><bpmn:sequenceFlow id="s1" sourceRef="sub_start" targetRef="inner" />'
        '<bpmn:sequenceFlow id="s2" sourceRef="inner" targetRef="sub_end" /></bpmn:subProcess>',
        None,
        "sub",
    )
    p.end()
    p.chain("start", "sub", "end")
    issues = _issues(p)
    assert ("task_without_lane", "inner") in {(i.code, i.element_id) for i in issues}


def test_manual_task_outside_any_lane() -> None:
    """A manualTask is a human task (the catalogue lists it, the runtime offers it) but
    task_without_lane only checks userTask, so it compiles with role None: only admins and the
    coordinator may then do it."""
    p = _with_node('<bpmn:manualTask id="manual" name="Ring" />', "manual", lane=None)
    _single(_issues(p), "task_without_lane", "manual", "ligger inte i någon lane")


def test_plain_task_outside_any_lane_is_not_a_roleless_human_task() -> None:
    """SpiffWorkflow parses a plain <bpmn:task> as NoneTask with manual=True, so the compiler lists it
    as a human task and the runtime waits for a person to complete it; outside a lane it gets role
    None. Either refuse it (task_without_lane) or do not make it a human task."""
    p = _with_node('<bpmn:task id="plain" name="Något" />', "plain", lane=None)
    try:
        bundle = _compile(p)
    except InvalidModelError as err:
        assert ("task_without_lane", "plain") in {(i.code, i.element_id) for i in err.issues}
    else:
        assert "p:plain" not in bundle.model.user_tasks, bundle.model.user_tasks["p:plain"]


def test_gateway_default_must_be_an_outgoing_flow() -> None:
    """default='finns_inte' satisfies gateway_default; when no condition holds the case is stuck."""
    p = Process("p")
    p.start()
    p.gateway("gw", default="finns_inte")
    p.end("end_yes")
    p.end("end_no")
    p.chain("start", "gw")
    p.flow("gw", "end_yes", condition="x == 1")
    p.flow("gw", "end_no", condition="x == 2")
    issues = _issues(p)
    assert ("gateway_default", "gw") in {(i.code, i.element_id) for i in issues}


@pytest.mark.parametrize(
    "raw",
    ['{"$schema": 5, "type": "object"}', "[" * 100_000 + "]" * 100_000],
    ids=["non-string-$schema", "deeply-nested"],
)
def test_form_junk_is_invalid_form_not_a_crash(raw: str) -> None:
    """load_form catches only ValueError/UnicodeDecodeError and SchemaError: a non-string $schema
    raises AttributeError from jsonschema.validator_for, deep nesting RecursionError from json."""
    issues = _issues(_linear(), {"simple.schema.json": raw})
    assert {(i.code, i.element_id) for i in issues} == {("invalid_form", "task_a")}


def _signal_events(catch_definition: str) -> bytes:
    return _definitions(
        '<bpmn:startEvent id="start" /><bpmn:intermediateCatchEvent id="wait">'
        f"{catch_definition}</bpmn:intermediateCatchEvent>"
        '<bpmn:intermediateThrowEvent id="shout"><bpmn:signalEventDefinition signalRef="sig" />'
        '</bpmn:intermediateThrowEvent><bpmn:endEvent id="end" />'
        '<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="wait" />'
        '<bpmn:sequenceFlow id="f2" sourceRef="wait" targetRef="shout" />'
        '<bpmn:sequenceFlow id="f3" sourceRef="shout" targetRef="end" />',
        extra='<bpmn:signal id="sig" name="klar" />',
    )


def test_signal_event_without_signal_ref() -> None:
    """A signal catch event without signalRef compiles; model.signals then holds None next to 'klar'
    and CompiledModel.catalogue() (stored on publish) raises TypeError sorting them. It should be
    refused with an issue on the event."""
    try:
        bundle = _compile(_signal_events("<bpmn:signalEventDefinition />"))
    except InvalidModelError as err:
        assert "wait" in {i.element_id for i in err.issues}
    else:
        json.dumps(bundle.model.catalogue())
        pytest.fail(f"a signal event without a signal was accepted: signals={set(bundle.model.signals)}")


def test_undefined_signal_ref_message_names_the_signal() -> None:
    """signalRef to an undefined signal reaches SpiffWorkflow, whose own bug surfaces to the user as
    "BPMN-filen är ogiltig: TypeError(\"NodeParser.raise_validation_exception() got an unexpected
    keyword argument 'node'\")"."""
    issues = _issues(_signal_events('<bpmn:signalEventDefinition signalRef="finns_inte" />'))
    assert any(i.element_id == "wait" for i in issues), issues
    for issue in issues:
        assert "TypeError" not in issue.message and "raise_validation_exception" not in issue.message, issue.message
        assert "finns_inte" in issue.message


def test_payload_expression_is_validated() -> None:
    """spiffworkflow:payloadExpression is evaluated by the script engine when the signal is thrown,
    but rule_expressions never parses it: an expression outside the safe language is published and
    only fails in a running case."""
    data = _definitions(
        '<bpmn:startEvent id="start" /><bpmn:intermediateThrowEvent id="shout"><bpmn:extensionElements>'
        "<spiffworkflow:payloadExpression>__import__('os')</spiffworkflow:payloadExpression>"
        '</bpmn:extensionElements><bpmn:signalEventDefinition signalRef="sig" /></bpmn:intermediateThrowEvent>'
        '<bpmn:endEvent id="end" /><bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="shout" />'
        '<bpmn:sequenceFlow id="f2" sourceRef="shout" targetRef="end" />',
        extra='<bpmn:signal id="sig" name="klar" />',
    )
    issues = _issues(data)
    assert ("invalid_expression", "shout") in {(i.code, i.element_id) for i in issues}
