"""Use cases. Each takes a Session, flushes, and never commits: the caller's edge owns the
transaction. Results are plain dataclasses; failures are the errors of ``engine.errors``."""

from engine.services.actors import SYSTEM_ACTOR, Actor, actor_for_user
from engine.services.cases import (
    CaseInfo,
    HistoryEntry,
    ParticipantSpec,
    cancel_case,
    case_history,
    get_case,
    resume_case,
    send_signal,
    start_case,
    suspend_case,
)
from engine.services.models import ModelVersionInfo, publish_directory, publish_model_version
from engine.services.tasks import (
    TaskView,
    claim_task,
    complete_task,
    get_task,
    list_tasks,
    reassign_task,
    unclaim_task,
)
from engine.services.timers import due_case_ids, fire_case_timers

__all__ = [
    "SYSTEM_ACTOR",
    "Actor",
    "CaseInfo",
    "HistoryEntry",
    "ModelVersionInfo",
    "ParticipantSpec",
    "TaskView",
    "actor_for_user",
    "cancel_case",
    "case_history",
    "claim_task",
    "complete_task",
    "due_case_ids",
    "fire_case_timers",
    "get_case",
    "get_task",
    "list_tasks",
    "publish_directory",
    "publish_model_version",
    "reassign_task",
    "resume_case",
    "send_signal",
    "start_case",
    "suspend_case",
    "unclaim_task",
]
