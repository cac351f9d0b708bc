"""SpiffWorkflow's script engine, replaced by the safe expression evaluator.

Every expression a diagram holds (gateway conditions, timers, multi-instance collections, service
parameters) goes through ``engine.workflow.expressions``; scripts are refused. Service tasks are
dispatched to the registry in ``service_tasks`` and their effects collected for the service layer.
"""

from __future__ import annotations

import json
from collections import ChainMap
from collections.abc import Mapping
from typing import Any

from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.script_engine.python_environment import (
    BasePythonScriptEngineEnvironment,
)

from engine.workflow import expressions
from engine.workflow.service_tasks import Effect, ServiceTaskError, call_operator


class ScriptsNotAllowedError(Exception):
    """A script reached the engine; validation should have stopped it at publish time."""


class SafeEnvironment(BasePythonScriptEngineEnvironment):  # type: ignore[misc]
    """Evaluates expressions with the safe evaluator; never executes scripts."""

    def __init__(self) -> None:
        super().__init__({})

    def evaluate(
        self, expression: str, context: Mapping[str, Any], external_context: Mapping[str, Any] | None = None
    ) -> Any:
        scope: Mapping[str, Any] = ChainMap(dict(context), dict(external_context)) if external_context else context
        return expressions.evaluate(expression, scope)

    def execute(
        self, script: str, context: Mapping[str, Any], external_context: Mapping[str, Any] | None = None
    ) -> Any:
        raise ScriptsNotAllowedError("Skript körs inte av Infora.")

    def call_service(self, context: Mapping[str, Any], **kwargs: Any) -> Any:
        raise ScriptsNotAllowedError("Tjänsteanrop går via SafeScriptEngine.call_service.")


class SafeScriptEngine(PythonScriptEngine):  # type: ignore[misc]
    """The script engine every loaded workflow gets (it is not serialized; set it after load)."""

    def __init__(self) -> None:
        super().__init__(environment=SafeEnvironment())
        self.effects: list[Effect] = []

    def validate(self, expression: str) -> None:
        expressions.parse_expression(expression)

    def execute(self, task: Any, script: str, external_context: Mapping[str, Any] | None = None) -> Any:
        raise WorkflowTaskException("Skript är inte tillåtna i Inforas processmodeller.", task=task)

    def call_service(self, task: Any, **kwargs: Any) -> str:
        operator_id = kwargs.get("operation_name", "")
        params = {name: spec["value"] for name, spec in (kwargs.get("operation_params") or {}).items()}
        try:
            result, effect = call_operator(operator_id, params)
        except ServiceTaskError as err:
            raise WorkflowTaskException(str(err), task=task) from err
        if effect is not None:
            self.effects.append(effect)
        return json.dumps(result)
