"""Loading a case under its lock and saving it back with its derived rows.

This is the hot path of every change to a case (DESIGN "data flow of one task completion"): lock
the row, load the workflow onto the cached spec, change it, then save the compacted state, bump the
version, refresh the task index, write audit events and recompute the next timer — all in the
caller's transaction, with as few statements as possible.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ARRAY, Select, String, Table, any_, bindparam, delete, func, insert, inspect, select, update
from sqlalchemy.orm import Session

from engine.clock import utcnow
from engine.errors import ConflictError, NotFoundError
from engine.persistence import Case, ModelVersion, TaskIndexRow
from engine.persistence.cases import AUDIT_EVENTS, CASES, TASK_INDEX
from engine.persistence.database import Hot, read_rows
from engine.reminders import ReminderPolicy, next_stage, schedule
from engine.services.actors import Actor
from engine.services.audit import audit_row
from engine.services.versions import LoadedVersion, load_version
from engine.workdays import due_at
from engine.workflow import CaseWorkflow, HumanTask, WaitingEvent

DUE_CHANNEL = "infora_due"
"""PostgreSQL's notification channel for changed due times (engine/scheduler/runner.py listens)."""


@dataclass
class CaseRow:
    """The columns of a locked case that the hot path reads and writes (plain values, no ORM
    object: loading and updating one row through the Core is cheaper than through the ORM)."""

    id: int
    model_version_id: int
    process_id: str
    title: str
    status: str
    phase: str | None
    version: int
    next_timer_at: datetime | None
    completed_at: datetime | None
    state: str


@dataclass(frozen=True)
class Rows:
    """Rows to insert into a table together with a change of a case (all with the same keys)."""

    table: Table
    rows: list[dict[str, Any]]


@dataclass(frozen=True)
class Removed:
    """Task index rows to delete together with a change of a case."""

    task_ids: list[str]


@dataclass(frozen=True)
class Changed:
    """Columns of one row (by its ``id``) of another table to update together with a change of a
    case (a PDSA step's cycle record and its ramp)."""

    table: Table
    row_id: int
    values: dict[str, Any]


Write = Rows | Removed | Changed
"""One of a change's writes besides the case row."""


@dataclass
class LockedCase:
    """A case row locked for this transaction, with its loaded workflow."""

    case: CaseRow
    version: LoadedVersion
    workflow: CaseWorkflow


_CASE_COLUMNS = (
    Case.id,
    Case.model_version_id,
    Case.process_id,
    Case.title,
    Case.status,
    Case.phase,
    Case.version,
    Case.next_timer_at,
    Case.completed_at,
    Case.state,
)


def _lock_statement(case_id: Any) -> Select[*tuple[Any, ...]]:
    return (
        select(*_CASE_COLUMNS, ModelVersion.content_hash)
        .join(ModelVersion, ModelVersion.id == Case.model_version_id)
        .where(Case.id == case_id)
        .with_for_update(of=CASES)
    )


# Built once: the hot path only binds values (statement construction costs more than it looks).
_LOCK_BY_ID = Hot(_lock_statement(bindparam("case_id")))
_LOCK_BY_TASK = Hot(
    _lock_statement(select(TaskIndexRow.case_id).where(TaskIndexRow.task_id == bindparam("task_id")).scalar_subquery())
)


def lock_case(session: Session, case_id: int, *, expected_version: int | None = None) -> LockedCase:
    """Lock a case (row lock on PostgreSQL; SQLite's write transaction is already exclusive) and
    load its workflow."""
    return _lock(session, _LOCK_BY_ID, {"case_id": case_id}, expected_version)


def lock_case_of_task(session: Session, task_id: str, *, expected_version: int | None = None) -> LockedCase:
    """Find and lock the case a task index row belongs to, in one statement (NotFoundError when
    the task is not in the index)."""
    return _lock(session, _LOCK_BY_TASK, {"task_id": task_id}, expected_version)


def _lock(session: Session, statement: Hot, params: dict[str, Any], expected_version: int | None) -> LockedCase:
    row = read_rows(session, statement, params).one_or_none()
    if row is None:
        raise NotFoundError("Ärendet finns inte.")
    *values, content_hash = row
    case = CaseRow(*values)
    if expected_version is not None and case.version != expected_version:
        raise ConflictError("Ärendet har ändrats av någon annan sedan du öppnade det. Ladda om sidan.")
    version = load_version(session, case.model_version_id, content_hash)
    return LockedCase(case, version, CaseWorkflow.load(version.model, case.state))


def update_case(
    session: Session,
    case: CaseRow,
    *,
    notify_due: datetime | None = None,
    together: Sequence[Write] = (),
    **values: Any,
) -> None:
    """Write changed columns of a locked case and bump its version; a concurrent change (another
    version in the row) is a ConflictError — optimistic locking on every backend.

    ``notify_due``: a due time this change made, sent to the scheduler with the same statement
    (see :func:`notify_due_change`), not in a round trip of its own. ``together``: the change's
    other writes (task index, audit, submission, a PDSA record's update). On PostgreSQL they ride
    in the same statement as data-modifying CTEs — one round trip instead of one each, and they run
    whatever the update finds (a ConflictError rolls the whole transaction back); elsewhere they run
    first, in order."""
    values["version"] = case.version + 1
    values.setdefault("updated_at", utcnow())
    result: Any  # a CursorResult (its rowcount), as either branch runs the update
    if _on_postgresql(session):
        result = _update_together(session, case, values, together, notify_due)
    else:
        for write in together:
            if isinstance(write, Rows):
                session.execute(insert(write.table), write.rows)
            elif isinstance(write, Changed):
                write_changed(session, write)
            else:
                session.execute(delete(TASK_INDEX).where(TASK_INDEX.c.task_id.in_(write.task_ids)))
        result = session.execute(update(CASES).where(Case.id == case.id, Case.version == case.version).values(**values))
    if result.rowcount != 1:
        raise ConflictError("Ärendet ändrades samtidigt av någon annan. Försök igen.")
    result.close()
    for key, value in values.items():
        if hasattr(case, key):
            setattr(case, key, value)


def write_changed(session: Session, write: Changed) -> None:
    """Make one ``Changed`` write by itself (where it does not ride in a case's statement)."""
    session.execute(update(write.table).where(write.table.c.id == write.row_id).values(**write.values))


def _update_together(
    session: Session, case: CaseRow, values: dict[str, Any], together: Sequence[Write], notify_due: datetime | None
) -> Any:
    """PostgreSQL: the case's UPDATE carrying the change's other writes as data-modifying CTEs and
    the scheduler's NOTIFY in its RETURNING — one round trip. The statement for each shape of
    change is built once (building and keying it took about a millisecond, as much as the round
    trips it saves); a change only binds its values."""
    shapes = tuple(_shape(w) for w in together)
    # The names of the case's own parameters are no column's of any table written here: an UPDATE
    # takes a parameter named like one of its table's columns as a value to SET.
    params: dict[str, Any] = {"the_case": case.id, "the_version": case.version}
    params.update((f"value_{key}", value) for key, value in values.items())
    for n, (write, (kind, _, _)) in enumerate(zip(together, shapes, strict=True)):
        if isinstance(write, Rows) and kind == "row":
            params.update((f"w{n}_{key}", value) for key, value in write.rows[0].items())
        elif isinstance(write, Rows):
            params.update((f"w{n}_{key}", [row[key] for row in write.rows]) for key in write.rows[0])
        elif isinstance(write, Changed):
            params[f"w{n}_id"] = write.row_id
            params.update((f"w{n}_{key}", value) for key, value in write.values.items())
        else:
            params[f"w{n}_removed"] = write.task_ids
    if notify_due is not None:
        params["notify_payload"] = notify_due.isoformat()
    # Through the session's connection, not the ORM: the ORM annotates an UPDATE afresh on every
    # execution, and keying that copy (this statement is large) cost ~0.2 ms per completion. The
    # flush the ORM would have made first (autoflush) is made here, so the write order is the same.
    session.flush()
    return _together_statement(tuple(values), shapes, notify_due is not None).run(session.connection(), params)


def _shape(write: Write) -> tuple[str, Table | None, tuple[str, ...]]:
    """What of a write shapes the combined statement: its kind, table and columns (not values)."""
    if isinstance(write, Rows):
        return ("row" if len(write.rows) == 1 else "rows", write.table, tuple(write.rows[0]))
    if isinstance(write, Changed):
        return ("changed", write.table, tuple(write.values))
    return ("removed", None, ())


@functools.lru_cache(maxsize=512)
def _together_statement(
    value_keys: tuple[str, ...], writes: tuple[tuple[str, Table | None, tuple[str, ...]], ...], notify: bool
) -> Any:
    ctes = []
    for n, (kind, table, keys) in enumerate(writes):
        if kind == "removed":
            # = ANY(array), not an expanding IN: the statement's text then stays the same whatever
            # the number of ids (not re-rendered on every execution, one prepared statement).
            removed = bindparam(f"w{n}_removed", type_=ARRAY(TASK_INDEX.c.task_id.type))
            statement: Any = delete(TASK_INDEX).where(TASK_INDEX.c.task_id == any_(removed))
        elif kind == "changed":
            assert table is not None
            statement = (
                update(table)
                .where(table.c.id == bindparam(f"w{n}_id"))
                .values({key: bindparam(f"w{n}_{key}", type_=table.c[key].type) for key in keys})
            )
        elif kind == "row":
            assert table is not None
            # One row (a completion's audit event and submission, most often its one new index
            # row): its values bound one by one. As arrays they went through psycopg's list dumper,
            # written in Python (element type search, text escaping per element): ~4 % of a web
            # worker's CPU in a py-spy profile of bench/load_run.py.
            statement = insert(table).values({key: bindparam(f"w{n}_{key}", type_=table.c[key].type) for key in keys})
        else:
            assert table is not None
            # INSERT … SELECT FROM unnest(column arrays): one statement for any number of rows,
            # the rows' ids in their order (the audit trail's order).
            arrays = [bindparam(f"w{n}_{key}", type_=ARRAY(table.c[key].type)) for key in keys]
            source = func.unnest(*arrays).table_valued(*keys).render_derived()
            statement = insert(table).from_select(list(keys), select(*(source.c[key] for key in keys)))
        ctes.append(statement.cte(f"write_{n}"))
    update_statement = (
        update(CASES)
        .where(CASES.c.id == bindparam("the_case"), CASES.c.version == bindparam("the_version"))
        .values({key: bindparam(f"value_{key}", type_=CASES.c[key].type) for key in value_keys})
    )
    if ctes:
        update_statement = update_statement.add_cte(*ctes)
    if notify:
        update_statement = update_statement.returning(_notify(bindparam("notify_payload", type_=String)))
    return Hot(update_statement)


def _on_postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def notify_due_change(session: Session, earliest: datetime | None = None) -> None:
    """Tell a scheduler in another process that due times changed (PostgreSQL NOTIFY, delivered on
    commit); in one process the edge wakes the scheduler itself.

    The payload is the earliest new due time (ISO 8601), or empty when unknown: the scheduler reads
    the database only when it is sooner than the pass it has planned (engine/scheduler/runner.py),
    so a busy site's completions — nearly all of which make a reminder days ahead — cost it
    nothing."""
    if _on_postgresql(session):
        session.execute(select(_notify(earliest.isoformat() if earliest else "")))


def _notify(payload: Any) -> Any:
    """``pg_notify`` on the due channel; the payload is the due time in ISO 8601 (empty: unknown),
    or a bound parameter that will hold it."""
    return func.pg_notify(DUE_CHANNEL, payload)


def require_running(case: CaseRow) -> None:
    """Raise ConflictError unless the case is running."""
    if case.status != "running":
        labels = {"suspended": "pausat", "completed": "avslutat", "cancelled": "avbrutet"}
        raise ConflictError(f"Ärendet är {labels.get(case.status, case.status)}.")


def _due(task: HumanTask) -> datetime | None:
    info = task.info
    if info is None or not info.due_duration:
        return None
    return due_at(task.ready_at, info.due_duration)


def reminder_columns(due: datetime | None, policy: ReminderPolicy, since: datetime) -> dict[str, Any]:
    """The reminder schedule columns of an index row: stages before ``since`` count as done."""
    if due is None:
        return {"reminder_stage": 0, "next_reminder_at": None}
    stages = schedule(due, policy)
    upcoming = next_stage(stages, 0, since)
    if upcoming is None:
        return {"reminder_stage": len(stages), "next_reminder_at": None}
    return {"reminder_stage": upcoming.number - 1, "next_reminder_at": upcoming.at}


def _task_row(case_id: int, task: HumanTask, policy: ReminderPolicy) -> dict[str, Any]:
    info = task.info
    due = _due(task)
    return {
        "case_id": case_id,
        "task_id": task.task_id,
        "bpmn_id": task.bpmn_id,
        "process_id": task.process_id,
        "name": task.name,
        "kind": "user",
        "state": "ready",
        "lane": info.role if info is not None else None,
        "unit_id": task.unit_id,
        "form": info.form if info is not None else None,
        "event_name": None,
        "ready_at": task.ready_at,
        "due_at": due,
        "due_overridden": False,
        **reminder_columns(due, policy, task.ready_at),
    }


def index_rows(
    case_id: int, workflow: CaseWorkflow, policy: ReminderPolicy, skip: AbstractSet[str] = frozenset()
) -> dict[str, dict[str, Any] | None]:
    """The task index rows the workflow implies, by task id (None for the ids in ``skip``: rows that
    already exist are kept as they are, so their due dates and reminders are not computed again)."""
    rows: dict[str, dict[str, Any] | None] = {}
    for task in workflow.human_tasks():
        rows[task.task_id] = None if task.task_id in skip else _task_row(case_id, task, policy)
    for event in workflow.waiting_events():
        rows[event.task_id] = None if event.task_id in skip else _event_row(case_id, event)
    return rows


def _event_row(case_id: int, event: WaitingEvent) -> dict[str, Any]:
    return {
        "case_id": case_id,
        "task_id": event.task_id,
        "bpmn_id": event.bpmn_id,
        "process_id": event.process_id,
        "name": event.name,
        "kind": event.kind,
        "state": "waiting",
        "lane": None,
        "unit_id": event.unit_id,
        "form": None,
        "event_name": event.event_name,
        "ready_at": event.since,
        "due_at": event.due_at,
        "due_overridden": False,
        "reminder_stage": 0,
        "next_reminder_at": None,
    }


def plan_index(
    session: Session,
    case_id: int,
    workflow: CaseWorkflow,
    existing: Mapping[str, datetime | None] | None,
    policy: ReminderPolicy,
) -> tuple[list[dict[str, Any]], list[str], datetime | None]:
    """The task index rows to add, the task ids to remove so the index matches the workflow, and
    the case's earliest due date afterwards (``cases.earliest_due_at``).

    ``existing`` maps the task ids the index holds for the case (read under the case lock) to their
    due dates (None for waiting events and tasks without one), or is None to read them here. Rows of
    tasks that still exist are kept as they are (with their claims and hand-set due dates)."""
    if existing is None:
        existing = {
            task_id: due if kind == "user" else None
            for task_id, kind, due in session.execute(_INDEX_DUES, {"case_id": case_id})
        }
    wanted = index_rows(case_id, workflow, policy, skip=existing.keys())
    removed = [tid for tid in existing if tid not in wanted]
    added = [row for row in wanted.values() if row is not None]
    dues = [due for tid, due in existing.items() if due is not None and tid in wanted]
    dues += [row["due_at"] for row in added if row["kind"] == "user" and row["due_at"] is not None]
    return added, removed, min(dues, default=None)


_INDEX_DUES = select(TaskIndexRow.task_id, TaskIndexRow.kind, TaskIndexRow.due_at).where(
    TaskIndexRow.case_id == bindparam("case_id")
)

EARLIEST_DUE = (
    select(func.min(TaskIndexRow.due_at))
    .where(TaskIndexRow.case_id == Case.id, TaskIndexRow.kind == "user")
    .correlate(CASES)
    .scalar_subquery()
)
"""``cases.earliest_due_at`` as the index holds it, as the value of an UPDATE of the case row (a
hand-set due date; the hot path computes it from the rows it writes, see :func:`plan_index`)."""


def refresh_earliest_due(session: Session, case_id: int) -> None:
    """Write ``cases.earliest_due_at`` again after a user task's due date changed in the index."""
    session.execute(update(CASES).where(Case.id == case_id).values(earliest_due_at=EARLIEST_DUE))


def _index_writes(added: list[dict[str, Any]], removed: list[str]) -> list[Write]:
    """The writes of a :func:`plan_index` plan (for :func:`update_case`'s ``together``)."""
    writes: list[Write] = []
    if removed:
        writes.append(Removed(removed))
    if added:
        writes.append(Rows(TASK_INDEX, [{"assignee_id": None, **row} for row in added]))
    return writes


def save_case(
    session: Session,
    actor: Actor,
    locked: LockedCase,
    audit: list[dict[str, Any]],
    *,
    indexed: Mapping[str, datetime | None] | None = None,
    changes: dict[str, Any] | None = None,
    together: Sequence[Write] = (),
) -> None:
    """Store the changed workflow, apply service-task effects, refresh the index, write the audit.

    ``indexed``: the task ids the index held for the case when it was locked, with their due dates
    (see :func:`plan_index`; None: read them); ``changes``: further columns to write in the same
    update (e.g. a new model version); ``together``: further inserts to make with it (e.g. the
    form submission)."""
    case, workflow = locked.case, locked.workflow
    now = utcnow()
    changes = dict(changes or {})
    for effect in workflow.effects:
        phase = effect.values.get("phase")
        if effect.kind == "set_case_phase" and changes.get("phase", case.phase) != phase:
            audit.append(
                audit_row(
                    actor, "case_phase_changed", case_id=case.id, before={"phase": case.phase}, after={"phase": phase}
                )
            )
            changes["phase"] = phase
    changes["state"] = workflow.dump()
    changes["next_timer_at"] = workflow.next_timer_at()
    changes["updated_at"] = now
    if workflow.completed and case.status == "running":
        changes["status"] = "completed"
        changes["completed_at"] = now
        audit.append(audit_row(actor, "case_completed", case_id=case.id))
    added, removed, changes["earliest_due_at"] = plan_index(
        session, case.id, workflow, indexed, locked.version.reminder_policy
    )
    # The scheduler hears of the soonest due time this change made: a moved timer, a new task's
    # first reminder (a timer or reminder that went away or later needs no word: a pass that
    # finds nothing due does nothing).
    new_dues = [row["next_reminder_at"] for row in added if row.get("next_reminder_at")]
    if changes["next_timer_at"] is not None and changes["next_timer_at"] != case.next_timer_at:
        new_dues.append(changes["next_timer_at"])
    for row in added:
        action = "task_ready" if row["kind"] == "user" else "event_waiting"
        audit.append(
            audit_row(
                actor,
                action,
                case_id=case.id,
                task_id=row["task_id"],
                details={"bpmn_id": row["bpmn_id"], "name": row["name"], "unit_id": row["unit_id"]},
            )
        )
    writes = [*together, *_index_writes(added, removed)]
    if audit:
        writes.append(Rows(AUDIT_EVENTS, audit))
    update_case(session, case, notify_due=min(new_dues) if new_dues else None, together=writes, **changes)
    if removed:
        _forget(session, removed)


def _forget(session: Session, task_ids: list[str]) -> None:
    """Drop the session's objects of index rows the Core statements deleted (as an ORM delete
    would): SQLite gives a deleted row's id to the next row inserted, and the session would hand
    out the old object for the new row."""
    gone = set(task_ids)
    for obj in list(session.identity_map.values()):
        if isinstance(obj, TaskIndexRow) and inspect(obj).dict.get("task_id") in gone:
            session.expunge(obj)
