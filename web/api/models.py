"""Process models and their versions: the models with their versions and open drafts, uploading a
draft (a BPMN file and forms as multipart, or the XML text as JSON), saving a draft (validated on
every save), publishing it, discarding it, downloading a version's BPMN XML and forms, the diff
between two versions, retiring a version, and moving running cases to another version (dry run,
move, undo).

Coordinators and admins only, like the model workshop pages. A model that does not validate answers
422 (code ``invalid_model``) with one field error per issue, keyed by the BPMN element id the issue
is pinned to (web/errors.py), so a client can show each where it belongs.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import Response, g, request
from flask.views import MethodView
from flask_smorest import Blueprint
from flask_smorest.fields import Upload
from marshmallow import fields, validate
from werkzeug.datastructures import FileStorage
from werkzeug.exceptions import RequestEntityTooLarge

from engine.errors import ConflictError, ValidationError
from engine.services.actors import require_coordinator
from engine.services.case_migration import MAX_CASES, dry_run, migrate_cases, undo_migration
from engine.services.drafts import (
    DraftView,
    discard_draft,
    export_version,
    get_draft,
    import_model,
    open_draft,
    publish_draft,
    save_draft_document,
)
from engine.services.model_versions import diff_versions, model_overview, set_version_status
from web.api.schemas import ID, errors, id_field
from web.db import get_session

blp = Blueprint("api_models", __name__, description="Processmodeller, utkast och versioner (koordinatorer)")

DOCUMENT_READ_LIMIT = 4 * 1024 * 1024 + 1
"""Bytes read from an uploaded diagram: more than the engine's document limit, so a larger file is
refused by the engine with its own message, without reading an unbounded upload."""
FORM_READ_LIMIT = 1024 * 1024
BODY_LIMIT = 16 * 1024 * 1024
"""Largest JSON body accepted for a draft (the diagram and every form)."""
PROCESS_ID = "string(maxlength=120)"


class VersionSchema(ma.Schema):
    """A published version of a model."""

    id = fields.Integer(required=True)
    number = fields.Integer(required=True)
    status = fields.String(required=True, metadata={"enum": ["published", "retired"]})
    published_at = fields.DateTime(required=True)
    published_by = fields.String(allow_none=True)
    running_cases = fields.Integer(required=True, metadata={"description": "running and paused cases on it"})


class ModelSchema(ma.Schema):
    """A process model with its versions (newest first) and its open draft."""

    process_id = fields.String(required=True)
    name = fields.String(required=True)
    versions = fields.List(fields.Nested(VersionSchema), required=True)
    draft_id = fields.Integer(allow_none=True, required=True)
    draft_issues = fields.Integer(required=True, metadata={"description": "problems in the open draft"})


class IssueSchema(ma.Schema):
    """A problem found when a draft was validated, pinned to an element where there is one."""

    code = fields.String(required=True)
    message = fields.String(required=True)
    element_id = fields.String(allow_none=True)
    file = fields.String(allow_none=True)
    severity = fields.String(allow_none=True)


class DraftSchema(ma.Schema):
    """A draft: the BPMN XML, the forms, what validation found and whether it can be published."""

    id = fields.Integer(required=True)
    process_id = fields.String(required=True)
    name = fields.String(required=True)
    xml = fields.String(required=True, attribute="bpmn_xml", metadata={"description": "the BPMN 2.0 XML"})
    forms = fields.Dict(keys=fields.String(), values=fields.Dict(), required=True,
                        metadata={"description": "file name -> JSON Schema"})  # fmt: skip
    issues = fields.List(fields.Nested(IssueSchema), required=True)
    publishable = fields.Boolean(required=True)
    status = fields.String(required=True, metadata={"enum": ["open", "published", "discarded"]})
    base_version_id = fields.Integer(allow_none=True, required=True)
    updated_at = fields.DateTime(required=True)


FORMS_DOC = {"description": "file name (….json) -> the form's JSON Schema, as an object or as JSON text"}


class DraftInSchema(ma.Schema):
    """A new draft from the XML text."""

    xml = fields.String(required=True, validate=validate.Length(min=1), metadata={"description": "BPMN 2.0 XML"})
    forms = fields.Dict(keys=fields.String(validate=validate.Length(min=1, max=120)), values=fields.Raw(),
                        load_default=dict, metadata=FORMS_DOC)  # fmt: skip
    into_process_id = fields.String(
        load_default=None, allow_none=True, validate=validate.Length(min=1, max=120),
        metadata={"description": "replace the open draft of this model (empty: a new model)"},
    )  # fmt: skip


class DraftSaveSchema(ma.Schema):
    """The edited document (and, when given, the forms that replace the draft's)."""

    xml = fields.String(required=True, validate=validate.Length(min=1))
    forms = fields.Dict(keys=fields.String(validate=validate.Length(min=1, max=120)), values=fields.Raw(),
                        load_default=None, allow_none=True, metadata=FORMS_DOC)  # fmt: skip


class UploadSchema(ma.Schema):
    """A draft from files: the .bpmn file and its forms (.json files)."""

    bpmn = Upload(required=True, metadata={"description": "the BPMN 2.0 file (.bpmn or .xml)"})
    forms = fields.List(Upload(), load_default=list, metadata={"description": "JSON Schema forms (.json)"})


class UploadArgs(ma.Schema):
    into_process_id = fields.String(
        load_default=None, validate=validate.Length(min=1, max=120),
        metadata={"description": "replace the open draft of this model (empty: a new model)"},
    )  # fmt: skip


class PublishedSchema(ma.Schema):
    """The version a publication made (or the equal one that already existed)."""

    id = fields.Integer(required=True)
    process_id = fields.String(required=True)
    name = fields.String(required=True)
    number = fields.Integer(required=True)
    content_hash = fields.String(required=True)
    status = fields.String(required=True)
    published_at = fields.DateTime(required=True)
    created = fields.Boolean(required=True, metadata={"description": "false: equal to an existing version"})


class VersionStatusSchema(ma.Schema):
    status = fields.String(required=True, validate=validate.OneOf(("published", "retired")))


class ChangeSchema(ma.Schema):
    element_id = fields.String(required=True)
    kind = fields.String(required=True, metadata={"description": "the BPMN element type, e.g. userTask"})
    name = fields.String(required=True)
    aspects = fields.List(fields.String(), required=True, metadata={"description": "what changed, e.g. lane"})


class DiffArgs(ma.Schema):
    from_id = id_field(required=True, metadata={"description": "the older version"})
    to_id = id_field(required=True, metadata={"description": "the newer version"})


class DiffSchema(ma.Schema):
    added = fields.List(fields.Nested(ChangeSchema), required=True)
    removed = fields.List(fields.Nested(ChangeSchema), required=True)
    changed = fields.List(fields.Nested(ChangeSchema), required=True)
    empty = fields.Boolean(required=True)


class CaseIdsSchema(ma.Schema):
    case_ids = fields.List(id_field(), required=True, validate=validate.Length(min=1, max=MAX_CASES))


class CaseMoveSchema(ma.Schema):
    """One case's answer: whether it can move (dry run) or moved, and why not."""

    case_id = fields.Integer(required=True)
    title = fields.String(required=True)
    from_version = fields.Integer(required=True, metadata={"description": "version number"})
    to_version = fields.Integer(required=True, metadata={"description": "version number"})
    ok = fields.Boolean(required=True)
    reasons = fields.List(fields.String(), required=True)


class FormsSchema(ma.Schema):
    process_id = fields.String(required=True)
    forms = fields.Dict(keys=fields.String(), values=fields.Dict(), required=True)


def _draft_json(draft: DraftView) -> dict[str, Any]:
    return {**draft.__dict__, "publishable": draft.publishable}


def _check_body_size() -> None:
    if (request.content_length or 0) > BODY_LIMIT:
        raise RequestEntityTooLarge(f"Högst {BODY_LIMIT // 1024 // 1024} MB.")


def _read_upload(upload: FileStorage, limit: int) -> bytes:
    data: bytes = upload.stream.read(limit + 1)
    return data


@blp.route("/models")
class Models(MethodView):
    @blp.response(200, ModelSchema(many=True))
    @errors(blp, 403)
    def get(self) -> Any:
        """Every process model with its versions (newest first) and open draft."""
        return model_overview(get_session(), g.actor)


@blp.route("/models/drafts")
class Drafts(MethodView):
    @blp.arguments(DraftInSchema())
    @blp.response(201, DraftSchema)
    @errors(blp, 403, 409, 413)
    def post(self, body: dict[str, Any]) -> Any:
        """Upload a draft as JSON: a new model, or (``into_process_id``) the new content of a model's
        draft. Saved even with validation issues (listed in the answer); refused (422) when the XML is
        unsafe, not BPMN, too large, or its process id clashes with another model."""
        _check_body_size()
        draft = import_model(
            get_session(), g.actor, body["xml"].encode("utf-8"), body["forms"], into_process_id=body["into_process_id"]
        )
        return _draft_json(draft), 201


@blp.route("/models/drafts/files")
class DraftFiles(MethodView):
    @blp.arguments(UploadArgs(), location="query")
    @blp.arguments(UploadSchema(), location="files")
    @blp.response(201, DraftSchema)
    @errors(blp, 403, 409, 413)
    def post(self, args: dict[str, Any], files: dict[str, Any]) -> Any:
        """Upload a draft as files (multipart/form-data): ``bpmn`` and any number of ``forms``."""
        forms: dict[str, str] = {}
        problems: dict[str, list[str]] = {}
        for upload in files["forms"]:
            name = (upload.filename or "").rsplit("/", 1)[-1]
            data = _read_upload(upload, FORM_READ_LIMIT)
            if len(data) > FORM_READ_LIMIT:
                problems[f"forms/{name}"] = ["Formuläret är större än 1 MB."]
                continue
            try:
                forms[name] = data.decode("utf-8")
            except UnicodeDecodeError:
                problems[f"forms/{name}"] = ["Formuläret är inte UTF-8-kodat."]
        if problems:
            raise ValidationError("Formulären kunde inte läsas.", problems)
        xml = _read_upload(files["bpmn"], DOCUMENT_READ_LIMIT)
        draft = import_model(get_session(), g.actor, xml, forms, into_process_id=args["into_process_id"])
        return _draft_json(draft), 201


@blp.route(f"/models/<{PROCESS_ID}:process_id>/draft")
class ModelDraft(MethodView):
    @blp.response(200, DraftSchema)
    @errors(blp, 403, 404, 409)
    def post(self, process_id: str) -> Any:
        """The model's open draft, made from its newest published version the first time."""
        return _draft_json(open_draft(get_session(), g.actor, process_id))


@blp.route(f"/models/drafts/<{ID}:draft_id>")
class DraftResource(MethodView):
    @blp.response(200, DraftSchema)
    @errors(blp, 403, 404)
    def get(self, draft_id: int) -> Any:
        """A draft with its XML, forms and validation issues."""
        return _draft_json(get_draft(get_session(), g.actor, draft_id))

    @blp.arguments(DraftSaveSchema())
    @blp.response(200, DraftSchema)
    @errors(blp, 403, 404, 409, 413)
    def put(self, body: dict[str, Any], draft_id: int) -> Any:
        """Save the edited document into the draft and validate it: the answer lists every issue
        publishing would report (a draft with issues is saved, not publishable)."""
        _check_body_size()
        draft = save_draft_document(get_session(), g.actor, draft_id, body["xml"], body["forms"])
        return _draft_json(draft)

    @blp.response(204)
    @errors(blp, 403, 404, 409)
    def delete(self, draft_id: int) -> None:
        """Discard the draft (kept, marked discarded, for the audit trail)."""
        discard_draft(get_session(), g.actor, draft_id)


@blp.route(f"/models/drafts/<{ID}:draft_id>/publish")
class DraftPublish(MethodView):
    @blp.response(201, PublishedSchema)
    @errors(blp, 403, 404, 409, 422)
    def post(self, draft_id: int) -> Any:
        """Publish the draft as a new immutable version (422 with every issue when it does not
        validate; ``created`` false when it equals an existing version)."""
        return publish_draft(get_session(), g.actor, draft_id), 201


@blp.route(f"/models/versions/<{ID}:version_id>/bpmn")
class VersionXml(MethodView):
    @blp.response(200, {"type": "string"}, content_type="application/xml", description="The BPMN 2.0 XML")
    @errors(blp, 403, 404)
    def get(self, version_id: int) -> Response:
        """Download a version's BPMN XML."""
        require_coordinator(g.actor)
        process_id, xml, _forms = export_version(get_session(), g.actor, version_id)
        response = Response(xml, mimetype="application/xml")
        response.headers["Content-Disposition"] = f'attachment; filename="{process_id}.bpmn"'
        return response


@blp.route(f"/models/versions/<{ID}:version_id>/forms")
class VersionForms(MethodView):
    @blp.response(200, FormsSchema)
    @errors(blp, 403, 404)
    def get(self, version_id: int) -> Any:
        """A version's forms (file name -> JSON Schema)."""
        require_coordinator(g.actor)
        process_id, _xml, forms = export_version(get_session(), g.actor, version_id)
        return {"process_id": process_id, "forms": forms}


@blp.route(f"/models/versions/<{ID}:version_id>/status")
class VersionStatus(MethodView):
    @blp.arguments(VersionStatusSchema())
    @blp.response(200, VersionStatusSchema)
    @errors(blp, 403, 404, 409)
    def put(self, body: dict[str, Any], version_id: int) -> Any:
        """Retire a version (new cases no longer start on it; running ones go on) or publish it again
        (409 for the model's last published version)."""
        set_version_status(get_session(), g.actor, version_id, body["status"])
        return body


@blp.route("/models/versions/diff")
class VersionDiff(MethodView):
    @blp.arguments(DiffArgs(), location="query")
    @blp.response(200, DiffSchema)
    @errors(blp, 403, 404)
    def get(self, args: dict[str, Any]) -> Any:
        """What changed from one version of a model to another, element by element."""
        diff = diff_versions(get_session(), g.actor, args["from_id"], args["to_id"])
        return {"added": diff.added, "removed": diff.removed, "changed": diff.changed, "empty": diff.empty}


@blp.route(f"/models/versions/<{ID}:version_id>/dry-run")
class MigrationDryRun(MethodView):
    @blp.arguments(CaseIdsSchema())
    @blp.response(200, CaseMoveSchema(many=True))
    @errors(blp, 403, 404)
    def post(self, body: dict[str, Any], version_id: int) -> Any:
        """Whether each case could move to the version, and why not; changes nothing."""
        db = get_session()
        answers = dry_run(db, g.actor, body["case_ids"], version_id)
        db.rollback()  # a dry run changes nothing; the rollback makes sure of it
        return answers


@blp.route(f"/models/versions/<{ID}:version_id>/migrate")
class Migration(MethodView):
    @blp.arguments(CaseIdsSchema())
    @blp.response(200, CaseMoveSchema(many=True))
    @errors(blp, 403, 404)
    def post(self, body: dict[str, Any], version_id: int) -> Any:
        """Move each case that can move to the version; the others stay and are reported with why
        (each case all or nothing)."""
        return migrate_cases(get_session(), g.actor, body["case_ids"], version_id)


@blp.route(f"/cases/<{ID}:case_id>/migration/undo")
class MigrationUndo(MethodView):
    @blp.response(200, CaseMoveSchema)
    @errors(blp, 403, 404, 409)
    def post(self, case_id: int) -> Any:
        """Move the case back to the version it had before its latest move (409 when it was never
        moved, has changed since, or has reached a step the old version lacks)."""
        require_coordinator(g.actor)
        answer = undo_migration(get_session(), g.actor, case_id)
        if not answer.ok:
            raise ConflictError("Ärendet kan inte flyttas tillbaka: " + " ".join(answer.reasons))
        return answer
