"""The registry of service tasks: the only side effects a diagram may ask for.

A diagram cannot run code (DESIGN decision 3). A ``serviceTask`` names an operator from this
registry; the operator checks its parameters and returns a result plus an *effect*, which the
service layer applies to the database in the same transaction (e.g. a new case phase).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

CASE_PHASES = ("godkand_nationellt", "planering_pagar", "introducerad", "uppfoljning")


class ServiceTaskError(Exception):
    """A service task was called with parameters it does not accept."""


@dataclass(frozen=True)
class Effect:
    """A change the service layer must make outside the workflow state."""

    kind: str
    values: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Operator:
    """One registered service task: its parameters and the function that runs it."""

    id: str
    description_sv: str
    parameters: tuple[str, ...]
    run: Callable[[Mapping[str, Any]], tuple[Any, Effect | None]]


def _set_case_phase(params: Mapping[str, Any]) -> tuple[Any, Effect | None]:
    phase = params.get("phase")
    if phase not in CASE_PHASES:
        raise ServiceTaskError(f"Okänd fas {phase!r}; tillåtna är {', '.join(CASE_PHASES)}.")
    return phase, Effect("set_case_phase", {"phase": phase})


REGISTRY: dict[str, Operator] = {
    op.id: op
    for op in (
        Operator(
            id="set_case_phase",
            description_sv="Sätter ärendets status (godkänd nationellt, planering pågår, introducerad, uppföljning).",
            parameters=("phase",),
            run=_set_case_phase,
        ),
    )
}


def call_operator(operator_id: str, params: Mapping[str, Any]) -> tuple[Any, Effect | None]:
    """Run a registered operator; unknown ones and bad parameters raise ServiceTaskError."""
    operator = REGISTRY.get(operator_id)
    if operator is None:
        raise ServiceTaskError(f"Tjänsten {operator_id!r} finns inte.")
    unknown = set(params) - set(operator.parameters)
    if unknown:
        raise ServiceTaskError(f"Tjänsten {operator_id!r} tar inte parametrarna {sorted(unknown)}.")
    return operator.run(params)
