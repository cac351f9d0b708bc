"""The model workshop: the models page, the bpmn-js editor with validation pinned to shapes,
publishing, diffs between versions, moving running cases, import and export.

Coordinators and admins only. The editor page carries its data as JSON in a
``<script type="application/json">`` element and all behaviour lives in ``static/js`` (no inline
script: the pages stay within a strict Content-Security-Policy). Saving is a JSON request that
answers with the validation issues; the other actions are plain forms that redirect, or show the
page again with the error (200), like the rest of the application.

Every view that catches a domain error rolls back before it answers: the request's session would
otherwise be committed at the end of a request whose error was handled.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Mapping
from typing import Any

from flask import Blueprint, Response, flash, g, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext
from flask_wtf.csrf import generate_csrf
from werkzeug.datastructures import FileStorage
from werkzeug.utils import secure_filename

from engine.errors import ConflictError, InvalidModelError, ModelIssue, NotFoundError, ValidationError
from engine.services import lookups
from engine.services.case_migration import dry_run, migrate_cases, undo_migration
from engine.services.drafts import (
    DraftView,
    discard_draft,
    export_version,
    forms_as_text,
    get_draft,
    import_model,
    open_draft,
    publish_draft,
    save_draft_document,
)
from engine.services.model_versions import ModelRow, diff_draft, diff_versions, model_overview, set_version_status
from engine.services.movable_cases import running_cases
from web.auth import coordinator_required
from web.db import get_session
from web.filters import clock
from web.forms import render_form
from web.params import int_or_none

bp = Blueprint("models", __name__)

UPLOAD_READ_LIMIT = 4 * 1024 * 1024 + 1
"""Bytes read from an uploaded diagram: more than the engine's document limit, so that a larger
file is refused by the engine with its own message, without reading an unbounded upload."""
FORM_READ_LIMIT = 1024 * 1024
"""Largest accepted form file (JSON Schema) in an upload."""
SAVE_BODY_LIMIT = 16 * 1024 * 1024
"""Largest accepted save request (the diagram and every form, as JSON)."""

ASPECTS = {
    "type": lazy_gettext("typ"),
    "name": lazy_gettext("namn"),
    "lane": lazy_gettext("roll (bana)"),
    "flows": lazy_gettext("flöden"),
    "condition": lazy_gettext("villkor"),
    "timer": lazy_gettext("timer"),
    "properties": lazy_gettext("inställningar (formulär, förfallotid, påminnelser)"),
    "instructions": lazy_gettext("instruktion"),
    "called": lazy_gettext("anropad process"),
    "default": lazy_gettext("standardflöde"),
    "loop": lazy_gettext("upprepning per enhet"),
}
"""The words for what changed in an element (the keys of the engine's diff)."""

KINDS = {
    "userTask": lazy_gettext("Användaruppgift"),
    "manualTask": lazy_gettext("Manuell uppgift"),
    "serviceTask": lazy_gettext("Tjänsteuppgift"),
    "scriptTask": lazy_gettext("Skriptuppgift"),
    "task": lazy_gettext("Uppgift"),
    "callActivity": lazy_gettext("Anropad process"),
    "subProcess": lazy_gettext("Delprocess"),
    "startEvent": lazy_gettext("Starthändelse"),
    "endEvent": lazy_gettext("Sluthändelse"),
    "intermediateCatchEvent": lazy_gettext("Väntande händelse"),
    "intermediateThrowEvent": lazy_gettext("Utlösande händelse"),
    "boundaryEvent": lazy_gettext("Kanthändelse"),
    "exclusiveGateway": lazy_gettext("Exklusiv gateway"),
    "parallelGateway": lazy_gettext("Parallell gateway"),
    "inclusiveGateway": lazy_gettext("Inkluderande gateway"),
    "eventBasedGateway": lazy_gettext("Händelsebaserad gateway"),
    "sequenceFlow": lazy_gettext("Flöde"),
    "lane": lazy_gettext("Bana (roll)"),
    "process": lazy_gettext("Process"),
}
"""Element types in words."""

VERSION_STATUSES = {
    "published": lazy_gettext("Publicerad"),
    "retired": lazy_gettext("Tillbakadragen"),
}


# --- the models page, import and export ---------------------------------------------------------


def _overview(**context: Any) -> str:
    rows = model_overview(get_session(), g.actor)
    context.setdefault("import_errors", [])
    context.setdefault("import_into", "")
    return render_template("models/index.html", models=rows, statuses=VERSION_STATUSES, **context)


@bp.get("/modeller")
@coordinator_required
def models_page() -> ResponseReturnValue:
    return _overview()


def _read_forms(files: list[FileStorage]) -> dict[str, str]:
    """Uploaded form files by their (safe) file names; refuses names and contents that are not forms."""
    forms: dict[str, str] = {}
    errors: dict[str, list[str]] = {}
    for upload in files:
        if not upload or not upload.filename:
            continue
        name = secure_filename(upload.filename)
        if not name.endswith(".json"):
            errors[f"forms.{upload.filename}"] = [
                _("Formulärfilen '%(name)s' ska sluta på .json.", name=upload.filename)
            ]
            continue
        data = upload.stream.read(FORM_READ_LIMIT + 1)
        if len(data) > FORM_READ_LIMIT:
            errors[f"forms.{name}"] = [_("Formulärfilen '%(name)s' är större än 1 MB.", name=name)]
            continue
        try:
            forms[name] = data.decode("utf-8")
        except UnicodeDecodeError:
            errors[f"forms.{name}"] = [_("Formulärfilen '%(name)s' är inte UTF-8-kodad.", name=name)]
    if errors:
        raise ValidationError(_("Formulären kunde inte läsas."), errors)
    return forms


def _issue_messages(err: InvalidModelError | ValidationError) -> list[str]:
    if isinstance(err, InvalidModelError):
        return [f"{i.element_id}: {i.message}" if i.element_id else i.message for i in err.issues]
    return [m for messages in err.field_errors.values() for m in messages] or [err.message]


@bp.post("/modeller/importera")
@coordinator_required
def import_page() -> ResponseReturnValue:
    db = get_session(write=True)
    into = request.form.get("into", "").strip() or None
    upload = request.files.get("bpmn")
    try:
        if upload is None or not upload.filename:
            raise ValidationError(_("Välj en BPMN-fil."), {"bpmn": [_("Välj en BPMN-fil (.bpmn eller .xml).")]})
        forms = _read_forms(request.files.getlist("forms"))
        draft = import_model(db, g.actor, upload.stream.read(UPLOAD_READ_LIMIT), forms, into_process_id=into)
    except (InvalidModelError, ValidationError) as err:
        db.rollback()
        # Shown again on the page (200), like every form of the application with errors.
        return _overview(import_errors=_issue_messages(err), import_into=into or "")
    if draft.issues:
        flash(_("Filen är importerad som utkast med %(n)d problem att rätta före publicering.", n=len(draft.issues)),
              "info")  # fmt: skip
    else:
        flash(_("Filen är importerad som utkast. Granska och publicera den."), "success")
    return redirect(url_for("models.editor", draft_id=draft.id))


@bp.get("/modeller/versioner/<int:version_id>.bpmn")
@coordinator_required
def download_bpmn(version_id: int) -> ResponseReturnValue:
    process_id, xml, _forms = export_version(get_session(), g.actor, version_id)
    response = Response(xml, mimetype="application/xml")
    response.headers["Content-Disposition"] = f'attachment; filename="{process_id}.bpmn"'
    return response


@bp.get("/modeller/versioner/<int:version_id>.zip")
@coordinator_required
def download_zip(version_id: int) -> ResponseReturnValue:
    process_id, xml, forms = export_version(get_session(), g.actor, version_id)
    buffer = io.BytesIO()
    # The layout `infora model publish DIR` reads: the diagram beside a forms/ folder.
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"{process_id}.bpmn", xml)
        for name, text in sorted(forms_as_text(forms).items()):
            archive.writestr(f"forms/{name}", text)
    response = Response(buffer.getvalue(), mimetype="application/zip")
    response.headers["Content-Disposition"] = f'attachment; filename="{process_id}.zip"'
    return response


@bp.post("/modeller/versioner/<int:version_id>/status")
@coordinator_required
def version_status(version_id: int) -> ResponseReturnValue:
    db = get_session(write=True)
    status = request.form.get("status", "")
    try:
        set_version_status(db, g.actor, version_id, status)
    except (ConflictError, ValidationError) as err:
        db.rollback()
        flash(err.message, "error")
        return redirect(url_for("models.models_page"))
    flash(_("Versionen är tillbakadragen: nya ärenden startar inte på den.") if status == "retired"
          else _("Versionen är publicerad igen."), "success")  # fmt: skip
    return redirect(url_for("models.models_page"))


# --- the editor ---------------------------------------------------------------------------------


@bp.get("/modeller/<process_id>/utkast")
@coordinator_required
def open_editor(process_id: str) -> ResponseReturnValue:
    # Idempotent: the model's open draft, made from its newest version the first time.
    draft = open_draft(get_session(write=True), g.actor, process_id)
    return redirect(url_for("models.editor", draft_id=draft.id))


def _issues_json(issues: list[dict[str, Any]] | list[ModelIssue]) -> list[dict[str, Any]]:
    out = []
    for issue in issues:
        if isinstance(issue, ModelIssue):
            issue = {"code": issue.code, "message": issue.message, "element_id": issue.element_id,
                     "file": issue.file, "severity": issue.severity}  # fmt: skip
        out.append({k: issue.get(k) for k in ("code", "message", "element_id", "file", "severity")})
    return out


@bp.get("/modeller/utkast/<int:draft_id>")
@coordinator_required
def editor(draft_id: int) -> ResponseReturnValue:
    db = get_session()
    draft = get_draft(db, g.actor, draft_id)
    if draft.status != "open":
        flash(_("Utkastet är redan publicerat eller kastat. Öppna modellen igen för ett nytt utkast."), "info")
        return redirect(url_for("models.models_page"))
    data = {
        "draftId": draft.id,
        "processId": draft.process_id,
        "xml": draft.bpmn_xml,
        "forms": forms_as_text(draft.forms),
        "issues": _issues_json(draft.issues),
        "publishable": draft.publishable,
        "roles": [c.label for c in lookups.roles(db)],
        "saveUrl": url_for("models.save", draft_id=draft.id),
        "previewUrl": url_for("models.preview", draft_id=draft.id),
        "descriptorUrl": url_for("static", filename="js/spiffworkflow-moddle.json"),
        "csrfToken": generate_csrf(),
        "texts": _editor_texts(),
        "kinds": {kind: str(label) for kind, label in KINDS.items()},
    }
    return render_template("models/editor.html", draft=draft, data=data, base=_base_number(draft))


def _editor_texts() -> dict[str, str]:
    """Every text the editor's script shows, in the page's language."""
    return {
        "unsaved": _("Osparade ändringar."),
        "saving": _("Sparar …"),
        "saved": _("Sparat {time}."),
        "saveFailed": _("Utkastet sparades inte."),
        "networkError": _("Servern kunde inte nås. Ingenting sparades; försök igen."),
        "loadFailed": _("Diagrammet kunde inte visas."),
        "noIssues": _("Inga problem: utkastet kan publiceras när det är sparat."),
        "issueCount": _("{n} problem."),
        "notPublishable": _("Utkastet kan sparas men inte publiceras förrän felen är rättade."),
        "issuePrefix": _("Problem:"),
        "processTitle": _("Processen"),
        "processIntro": _("Inget element är markerat: inställningarna gäller hela processen."),
        "noProcess": _("Diagrammet har ingen körbar process."),
        "nothingToSet": _("Den här typen av element har inga fler inställningar här."),
        "name": _("Namn"),
        "form": _("Formulär"),
        "formHelp": _("Formuläret som den som gör uppgiften fyller i. Lägg till nya formulär under diagrammet."),
        "noForm": _("Inget formulär"),
        "missingForm": _("{name} (finns inte bland formulären)"),
        "due": _("Förfallotid"),
        "dueHelp": _(
            "Tid från att uppgiften blir klar att göra, t.ex. P14D (14 dagar) eller P1M (en månad). "
            "Tomt: ingen förfallotid."
        ),
        "stage": _("PDSA-steg"),
        "stageHelp": _("Vilken del av PDSA-cykelns protokoll uppgiften fyller i."),
        "stage_none": _("Inget"),
        "stage_plan": _("Planera"),
        "stage_do": _("Göra"),
        "stage_study": _("Studera"),
        "stage_act": _("Agera"),
        "instructions": _("Instruktion till den som gör uppgiften"),
        "role": _("Roll"),
        "roleHelp": _("Banan är en roll i ärendet: dess uppgifter når personerna med rollen."),
        "unknownRole": _("{name} (ingen känd roll)"),
        "chooseRole": _("Välj roll …"),
        "timer": _("Väntetid"),
        "timerHelp": _(
            "En tidslängd som P3M (tre månader) eller P14D (14 dagar), eller namnet på en variabel "
            "som cycle_duration. Utan citattecken."
        ),
        "gatewaySingle": _("Gatewayen har bara ett utgående flöde; den behöver inga villkor."),
        "defaultFlow": _("Standardflöde (tas när inget villkor stämmer)"),
        "condition": _("Villkor för flödet {target}"),
        "conditionHelp": _('Uttrycksspråket: t.ex. decision == "revise" eller data_needed. Tomt på standardflödet.'),
        "flowFromGateway": _("Villkoret ställer du in på gatewayen som flödet går ut från."),
        "reminders": _("Påminnelser före förfallodagen"),
        "remindersHelp": _("Tidslängder med komma emellan, t.ex. P7D, P1D, PT0S. Tomt: systemets standard."),
        "escalate": _("Eskalera till koordinatorn efter"),
        "escalateHelp": _("En tidslängd efter förfallodagen, t.ex. P1D, eller none. Tomt: systemets standard."),
        "noForms": _("Inga formulär än"),
        "jsonOk": _("Giltig JSON."),
        "jsonError": _("JSON-fel:"),
        "previewFailed": _("Förhandsvisningen kunde inte visas."),
        "formNameInvalid": _(
            "Filnamnet får bara innehålla bokstäverna a–z, siffror, punkt, bindestreck och "
            "understreck, och sluta på .json."
        ),
        "formNameTaken": _("Det finns redan ett formulär med det namnet."),
        "newFormField": _("Kommentar"),
    }


def _base_number(draft: DraftView) -> int | None:
    if draft.base_version_id is None:
        return None
    for model in model_overview(get_session(), g.actor):
        for version in model.versions:
            if version.id == draft.base_version_id:
                return version.number
    return None


def _json_error(status: int, code: str, message: str, **extra: Any) -> tuple[Response, int]:
    return jsonify({"status": status, "code": code, "message": message, **extra}), status


@bp.post("/modeller/utkast/<int:draft_id>/spara")
@coordinator_required
def save(draft_id: int) -> ResponseReturnValue:
    if (request.content_length or 0) > SAVE_BODY_LIMIT:
        return _json_error(413, "too_large", _("Modellen är för stor för att sparas."))
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("xml"), str):
        return _json_error(400, "bad_request", _("Begäran saknar diagrammet (xml)."))
    forms = body.get("forms")
    if forms is not None and (
        not isinstance(forms, dict) or not all(isinstance(v, (str, dict)) for v in forms.values())
    ):
        return _json_error(400, "bad_request", _("Formulären ska skickas som text per filnamn."))
    db = get_session(write=True)
    try:
        draft = save_draft_document(db, g.actor, draft_id, body["xml"], forms)
    except InvalidModelError as err:
        db.rollback()
        return _json_error(422, err.code, _("Modellen sparades inte."), issues=_issues_json(err.issues))
    except ValidationError as err:
        db.rollback()
        issues = [
            {"code": "invalid_form", "message": m, "element_id": None, "severity": "error",
             "file": key.removeprefix("forms.") if key.startswith("forms.") else None}
            for key, messages in err.field_errors.items() for m in messages
        ]  # fmt: skip
        return _json_error(422, err.code, _("Modellen sparades inte."), issues=issues)
    except ConflictError as err:
        db.rollback()
        return _json_error(409, err.code, err.message)
    answer = {"status": 200, "issues": _issues_json(draft.issues), "publishable": draft.publishable,
              "name": draft.name, "savedAt": clock(draft.updated_at)}  # fmt: skip
    return jsonify(answer)


@bp.post("/modeller/utkast/<int:draft_id>/forhandsvisning")
@coordinator_required
def preview(draft_id: int) -> ResponseReturnValue:
    """The form as the task page renders it (web.forms), for the editor's live preview."""
    get_draft(get_session(), g.actor, draft_id)
    body = request.get_json(silent=True)
    text = body.get("schema") if isinstance(body, dict) else None
    if not isinstance(text, str):
        return _json_error(400, "bad_request", _("Begäran saknar formuläret (schema)."))
    try:
        schema = json.loads(text)
    except json.JSONDecodeError as err:
        return jsonify({"ok": False, "message": _("Ingen giltig JSON: rad %(line)d, kolumn %(col)d: %(msg)s",
                                                  line=err.lineno, col=err.colno, msg=err.msg)})  # fmt: skip
    if not isinstance(schema, dict) or schema.get("type", "object") != "object":
        return jsonify({"ok": False, "message": _("Ett formulär är ett JSON Schema av typen object.")})
    try:
        html = render_form(schema, {}, prefix="forhandsvisning")
    except (ValueError, TypeError, KeyError, AttributeError) as err:
        return jsonify({"ok": False, "message": _("Formuläret kan inte visas: %(reason)s", reason=str(err))})
    return jsonify({"ok": True, "html": str(html)})


@bp.post("/modeller/utkast/<int:draft_id>/publicera")
@coordinator_required
def publish(draft_id: int) -> ResponseReturnValue:
    db = get_session(write=True)
    try:
        info = publish_draft(db, g.actor, draft_id)
    except InvalidModelError as err:
        db.rollback()
        flash(_("Utkastet publicerades inte: det har %(n)d problem. Rätta dem och spara först.", n=len(err.issues)),
              "error")  # fmt: skip
        return redirect(url_for("models.editor", draft_id=draft_id))
    except ConflictError as err:
        db.rollback()
        flash(err.message, "error")
        return redirect(url_for("models.models_page"))
    if info.created:
        flash(_("%(name)s version %(number)d är publicerad. Nya ärenden använder den; pågående ärenden går vidare på "
                "sin version tills du flyttar dem.", name=info.name, number=info.number), "success")  # fmt: skip
    else:
        flash(_("Utkastet är likadant som version %(number)d; ingen ny version behövdes.", number=info.number), "info")
    return redirect(url_for("models.models_page") + f"#modell-{info.process_id}")


@bp.post("/modeller/utkast/<int:draft_id>/kasta")
@coordinator_required
def discard(draft_id: int) -> ResponseReturnValue:
    db = get_session(write=True)
    try:
        discard_draft(db, g.actor, draft_id)
    except ConflictError as err:
        db.rollback()
        flash(err.message, "error")
        return redirect(url_for("models.models_page"))
    flash(_("Utkastet är kastat."), "success")
    return redirect(url_for("models.models_page"))


# --- differences between versions ---------------------------------------------------------------


def _model_of_version(rows: list[ModelRow], version_id: int) -> tuple[ModelRow, int]:
    for model in rows:
        for version in model.versions:
            if version.id == version_id:
                return model, version.number
    raise NotFoundError(_("Versionen finns inte."))


def _changes(diff: Any) -> dict[str, list[dict[str, Any]]]:
    def rows(changes: list[Any]) -> list[dict[str, Any]]:
        return [
            {"id": c.element_id, "kind": str(KINDS.get(c.kind, c.kind)), "name": c.name,
             "aspects": [str(ASPECTS.get(a, a)) for a in c.aspects]}
            for c in changes
        ]  # fmt: skip

    return {"added": rows(diff.added), "removed": rows(diff.removed), "changed": rows(diff.changed)}


@bp.get("/modeller/jamfor")
@coordinator_required
def diff_page() -> ResponseReturnValue:
    db = get_session()
    old_id, new_id = int_or_none(request.args.get("fran")), int_or_none(request.args.get("till"))
    if old_id is None or new_id is None:
        raise NotFoundError(_("Välj två versioner att jämföra."))
    rows = model_overview(db, g.actor)
    model, old_number = _model_of_version(rows, old_id)
    _model, new_number = _model_of_version(rows, new_id)
    diff = diff_versions(db, g.actor, old_id, new_id)
    old_xml, new_xml = export_version(db, g.actor, old_id)[1], export_version(db, g.actor, new_id)[1]
    return render_template(
        "models/diff.html", model=model, changes=_changes(diff), empty=diff.empty,
        old_label=_("version %(n)d", n=old_number), new_label=_("version %(n)d", n=new_number),
        data={"old": old_xml, "new": new_xml, "changes": _changes(diff)},
    )  # fmt: skip


@bp.get("/modeller/<process_id>/utkast/jamfor")
@coordinator_required
def draft_diff_page(process_id: str) -> ResponseReturnValue:
    db = get_session()
    model = next((m for m in model_overview(db, g.actor) if m.process_id == process_id), None)
    if model is None or model.draft_id is None:
        raise NotFoundError(_("Modellen har inget öppet utkast."))
    draft = get_draft(db, g.actor, model.draft_id)
    diff = diff_draft(db, g.actor, draft.id)
    old_xml = export_version(db, g.actor, draft.base_version_id)[1] if draft.base_version_id else None
    base = _base_number(draft)
    return render_template(
        "models/diff.html", model=model, draft=draft, changes=_changes(diff), empty=diff.empty,
        old_label=_("version %(n)d", n=base) if base else _("ingen tidigare version"), new_label=_("utkastet"),
        data={"old": old_xml, "new": draft.bpmn_xml, "changes": _changes(diff)},
    )  # fmt: skip


# --- moving running cases -----------------------------------------------------------------------


def _model_row(process_id: str) -> ModelRow:
    model = next((m for m in model_overview(get_session(), g.actor) if m.process_id == process_id), None)
    if model is None or not model.versions:
        raise NotFoundError(_("Modellen finns inte."))
    return model


def _selected_ids(form: Mapping[str, Any]) -> list[int]:
    getlist = getattr(form, "getlist", None)
    values = getlist("case_ids") if getlist else []
    return sorted({i for i in (int_or_none(v) for v in values) if i is not None})


@bp.route("/modeller/<process_id>/flytta", methods=["GET", "POST"])
@coordinator_required
def migration_page(process_id: str) -> ResponseReturnValue:
    model = _model_row(process_id)
    published = [v for v in model.versions if v.status == "published"]
    target_id = int_or_none(request.values.get("version_id")) or (published[0].id if published else None)
    errors: list[str] = []
    checked: list[Any] = []
    moved: list[Any] = []
    selected: list[int] = []
    if request.method == "POST":
        db = get_session(write=True)
        selected = _selected_ids(request.form)
        action = request.form.get("action", "dry_run")
        try:
            if target_id is None or all(v.id != target_id for v in model.versions):
                raise ValidationError(_("Välj en version."), {"version_id": [_("Välj en version av modellen.")]})
            if action == "move":
                moved = migrate_cases(db, g.actor, selected, target_id)
                done = sum(1 for m in moved if m.ok)
                flash(_("%(n)d av %(total)d ärenden är flyttade.", n=done, total=len(moved)),
                      "success" if done else "info")  # fmt: skip
            else:
                checked = dry_run(db, g.actor, selected, target_id)
                db.rollback()  # a dry run changes nothing; the rollback makes sure of it
        except (ValidationError, ConflictError) as err:
            db.rollback()
            errors = _issue_messages(err) if isinstance(err, ValidationError) else [err.message]
    cases = running_cases(get_session(), g.actor, process_id)
    return render_template(
        "models/migrate.html", model=model, versions=model.versions, target_id=target_id, cases=cases,
        checked=checked, moved=moved, selected=selected, errors=errors, statuses=VERSION_STATUSES,
        movable=[c.case_id for c in checked if c.ok],
    )  # fmt: skip


@bp.post("/modeller/arenden/<int:case_id>/flytta-tillbaka")
@coordinator_required
def undo_move(case_id: int) -> ResponseReturnValue:
    db = get_session(write=True)
    process_id = request.form.get("process_id", "")
    back = url_for("models.migration_page", process_id=process_id) if process_id else url_for("models.models_page")
    try:
        answer = undo_migration(db, g.actor, case_id)
    except ConflictError as err:
        db.rollback()
        flash(err.message, "error")
        return redirect(back)
    if answer.ok:
        flash(_("Ärendet %(title)s är flyttat tillbaka till version %(n)d.", title=answer.title, n=answer.to_version),
              "success")  # fmt: skip
    else:
        db.rollback()
        flash(_("Ärendet %(title)s kunde inte flyttas tillbaka: %(why)s", title=answer.title,
                why=" ".join(answer.reasons)), "error")  # fmt: skip
    return redirect(back)
