"""The only package that imports SpiffWorkflow: parsing and validating models, running cases,
serializing state, and the safe expression language. Everything it returns is plain data."""

from engine.workflow.compiler import CompiledBundle, compile_bundle
from engine.workflow.model import CompiledModel, UserTaskInfo
from engine.workflow.runtime import CaseWorkflow, HumanTask, WaitingEvent
from engine.workflow.service_tasks import CASE_PHASES, Effect

__all__ = [
    "CASE_PHASES",
    "CaseWorkflow",
    "CompiledBundle",
    "CompiledModel",
    "Effect",
    "HumanTask",
    "UserTaskInfo",
    "WaitingEvent",
    "compile_bundle",
]
